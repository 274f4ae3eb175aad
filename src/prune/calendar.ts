import { UsageError } from "../errors.js";

/** Wall-clock fields of an instant in some time zone. `month` is 1-12. */
export interface CivilTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/**
 * Converts instants to wall-clock fields and back in one time zone. `toDate` accepts
 * out-of-range fields (month 0, day -3, ...) and normalizes them, and resolves a wall-clock
 * time that a DST change skipped or repeated, the way Go's `time.Date` does: restic's
 * --keep-within arithmetic, which calendar-aware subtraction must match.
 */
export interface Calendar {
  fields(date: Date): CivilTime;
  toDate(civil: CivilTime): Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The instant of wall-clock time `wall` (its fields read as UTC), given the zone's offset at
 * any instant, as Go's `time.Date` finds it: the offset in effect at `wall` read as an instant,
 * unless that offset does not hold at the instant it gives, then the offset there. So a skipped
 * time takes the offset from before the change in zones east of UTC and after it west of UTC,
 * and a repeated time resolves to its second occurrence east of UTC and its first west of it
 * (JavaScript's Date moves a skipped time forward and takes the first occurrence).
 */
function goInstant(wall: number, offsetAt: (instant: number) => number): number {
  const guess = offsetAt(wall);
  const offset = offsetAt(wall - guess);
  return wall - (offset === guess ? guess : offset);
}

const localCalendar: Calendar = {
  fields: (date) => ({
    year: date.getFullYear(),
    month: date.getMonth() + 1,
    day: date.getDate(),
    hour: date.getHours(),
    minute: date.getMinutes(),
    second: date.getSeconds(),
    millisecond: date.getMilliseconds(),
  }),
  toDate: (c) => {
    const wall = utcInstant(c);
    if (Number.isNaN(wall)) return new Date(NaN);
    return new Date(goInstant(wall, (instant) => -new Date(instant).getTimezoneOffset() * 60_000));
  },
};

function utcInstant(c: CivilTime): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(c.year, c.month - 1, c.day);
  date.setUTCHours(c.hour, c.minute, c.second, c.millisecond);
  return date.getTime();
}

const utcCalendar: Calendar = {
  fields: (date) => ({
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    millisecond: date.getUTCMilliseconds(),
  }),
  toDate: (c) => new Date(utcInstant(c)),
};

function zonedCalendar(timeZone: string): Calendar {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      hourCycle: "h23",
    });
  } catch {
    throw new UsageError(`unknown time zone: ${JSON.stringify(timeZone)}`);
  }

  const fields = (date: Date): CivilTime => {
    const part: Record<string, string> = {};
    for (const { type, value } of format.formatToParts(date)) part[type] = value;
    const year = Number(part.year);
    return {
      // Intl counts years before 1 AD backwards with era "BC"; astronomical year 0 is 1 BC.
      year: part.era === "BC" ? 1 - year : year,
      month: Number(part.month),
      day: Number(part.day),
      hour: Number(part.hour),
      minute: Number(part.minute),
      second: Number(part.second),
      millisecond: ((date.getTime() % 1000) + 1000) % 1000,
    };
  };

  const offsetAt = (instant: number): number => utcInstant(fields(new Date(instant))) - instant;

  return {
    fields,
    toDate: (c) => {
      const wall = utcInstant(c);
      return Number.isNaN(wall) ? new Date(NaN) : new Date(goInstant(wall, offsetAt));
    },
  };
}

const zoned = new Map<string, Calendar>();

/**
 * The calendar of an IANA time zone ("Europe/Paris"), "UTC", or, when `timeZone` is
 * undefined, the process's local zone (like restic, which buckets in local time).
 */
export function calendarFor(timeZone?: string): Calendar {
  if (timeZone === undefined) return localCalendar;
  if (timeZone === "UTC") return utcCalendar;
  let calendar = zoned.get(timeZone);
  if (calendar === undefined) {
    calendar = zonedCalendar(timeZone);
    zoned.set(timeZone, calendar);
  }
  return calendar;
}

/** The ISO 8601 week-numbering year and week (1-53) of a civil date; weeks start on Monday. */
export function isoWeek(c: Pick<CivilTime, "year" | "month" | "day">): { year: number; week: number } {
  const day = utcCalendar.toDate({ ...c, hour: 0, minute: 0, second: 0, millisecond: 0 });
  const weekday = (day.getUTCDay() + 6) % 7; // Monday 0 ... Sunday 6
  // A week belongs to the year that holds its Thursday.
  const thursday = new Date(day.getTime() + (3 - weekday) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const january1 = utcCalendar.toDate({ year, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 });
  return { year, week: Math.floor((thursday.getTime() - january1.getTime()) / (7 * DAY_MS)) + 1 };
}

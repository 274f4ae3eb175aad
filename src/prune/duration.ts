import { UsageError } from "../errors.js";
import { calendarFor } from "./calendar.js";

/**
 * A `--keep-within*` duration in restic's units. Years, months and days are calendar units,
 * hours are exact; all are non-negative integers.
 */
export interface RetentionDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const UNITS = { y: "years", m: "months", d: "days", h: "hours" } as const;
const TERM = /(\d+)([a-zA-Z]?)/y;

/**
 * Parses restic's duration syntax, e.g. "1y5m7d2h", "30d", "2h1y" (any order). Unlike
 * restic, a unit given twice and negative numbers are refused rather than silently
 * resolved, and "" is refused rather than meaning "no duration".
 */
export function parseRetentionDuration(text: string): RetentionDuration {
  const invalid = (why: string) =>
    new UsageError(`invalid duration ${JSON.stringify(text)}: ${why} (expected e.g. 1y5m7d2h)`);
  const input = text.trim();
  if (input === "") throw invalid("it is empty");

  const duration: RetentionDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  TERM.lastIndex = 0;
  while (TERM.lastIndex < input.length) {
    const rest = input.slice(TERM.lastIndex);
    const match = TERM.exec(input);
    if (match === null) throw invalid(`expected a number at ${JSON.stringify(rest)}`);
    const digits = match[1];
    const unit = match[2];
    if (unit === "") throw invalid(`no unit after ${digits} (use y, m, d or h)`);
    if (!isUnit(unit)) throw invalid(`unknown unit ${JSON.stringify(unit)} (use y, m, d or h)`);
    if (seen.has(unit)) throw invalid(`unit ${JSON.stringify(unit)} given twice`);
    seen.add(unit);
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) throw invalid(`${digits} is too large`);
    duration[UNITS[unit]] = value;
  }
  return duration;
}

function isUnit(text: string): text is keyof typeof UNITS {
  return Object.hasOwn(UNITS, text);
}

/** Formats a duration the way restic prints it: non-zero units only, "0h" when all are zero. */
export function formatRetentionDuration(d: RetentionDuration): string {
  const text = (Object.entries(UNITS) as [keyof typeof UNITS, keyof RetentionDuration][])
    .filter(([, field]) => d[field] !== 0)
    .map(([unit, field]) => `${d[field]}${unit}`)
    .join("");
  return text === "" ? "0h" : text;
}

/** True when every unit is zero; restic treats such a `--keep-within*` as not given. */
export function isZeroDuration(d: RetentionDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/**
 * `date` minus `d`, as restic computes it: years, months and days move the wall-clock date in
 * `timeZone` (default local, see calendarFor), with overflow normalized like Go's
 * `AddDate` (March 31 minus 1 month is March 3, or 2 in leap years); then hours are
 * subtracted as elapsed time. Returns an invalid Date when the result is outside Date's range.
 */
export function subtractDuration(date: Date, d: RetentionDuration, timeZone?: string): Date {
  const calendar = calendarFor(timeZone);
  const c = calendar.fields(date);
  const shifted = calendar.toDate({
    ...c,
    year: c.year - d.years,
    month: c.month - d.months,
    day: c.day - d.days,
  });
  return new Date(shifted.getTime() - d.hours * 60 * 60 * 1000);
}

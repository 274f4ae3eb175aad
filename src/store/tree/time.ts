/**
 * Timestamps are kept as RFC 3339 strings with nine fractional digits, converted from and to
 * nanoseconds since the epoch as bigints so that no precision is lost on the way.
 */
const NS_PER_SECOND = 1_000_000_000n;

/** The span of a JavaScript date: ±8.64e15 ms, about ±275,760 years. */
const MAX_SECONDS = 8_640_000_000_000n;

/**
 * Years outside 0000-9999 (which tmpfs and btrfs allow) take ISO 8601's six-digit form, as
 * `+010000-01-01T…` or `-000001-12-31T…`; times beyond a JavaScript date are clamped to its span.
 */
export function formatNanos(ns: bigint): string {
  let seconds = ns / NS_PER_SECOND;
  let fraction = ns % NS_PER_SECOND;
  if (fraction < 0n) {
    fraction += NS_PER_SECOND;
    seconds -= 1n;
  }
  if (seconds > MAX_SECONDS || seconds < -MAX_SECONDS) [seconds, fraction] = [seconds > 0n ? MAX_SECONDS : -MAX_SECONDS, 0n];
  return `${isoSeconds(seconds)}.${fraction.toString().padStart(9, "0")}Z`;
}

/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the four-digit years, computed here without a Date. */
const FIRST_PLAIN_SECOND = -62_167_219_200;
const LAST_PLAIN_SECOND = 253_402_300_799;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * `YYYY-MM-DDTHH:MM:SS` (or the six-digit year form) of a count of seconds since the epoch.
 * Backups format three times per file, mostly each a different second: the civil date is
 * computed directly (days to year, month and day as in Howard Hinnant's `civil_from_days`),
 * four times faster than a Date and its ISO string.
 */
function isoSeconds(seconds: bigint): string {
  const total = Number(seconds);
  if (total < FIRST_PLAIN_SECOND || total > LAST_PLAIN_SECOND) return new Date(total * 1000).toISOString().slice(0, -5); // drops ".sssZ"
  const days = Math.floor(total / 86_400);
  let rest = total - days * 86_400;
  const shifted = days + 719_468; // days since 0000-03-01
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const marchMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * marchMonth + 2) / 5) + 1;
  const month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  return `${String(year).padStart(4, "0")}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(rest - minutes * 60)}`;
}

// The form cairn writes, within what parseNanos accepts (Date.parse allows day 31 of any month).
const PLAIN_TIME = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z$/;

/** Whether parseNanos would accept `text`; cheap for the common form, which trees hold by the thousand. */
export function isValidTime(text: string): boolean {
  if (PLAIN_TIME.test(text)) return true;
  try {
    parseNanos(text);
    return true;
  } catch {
    return false;
  }
}

const RFC3339 = /^((?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export function parseNanos(text: string): bigint {
  const match = RFC3339.exec(text);
  if (!match) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  const [, base, fraction = "", zone] = match;
  const millis = Date.parse(`${base}${zone}`);
  if (Number.isNaN(millis)) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  return BigInt(millis / 1000) * NS_PER_SECOND + BigInt(fraction.padEnd(9, "0"));
}

/** Seconds as a float, for fs.utimes (which cannot carry more than about a microsecond today). */
export function nanosToSeconds(ns: bigint): number {
  return Number(ns / NS_PER_SECOND) + Number(ns % NS_PER_SECOND) / 1e9;
}

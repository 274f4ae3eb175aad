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

// A file's three times, and its neighbours' times, mostly fall in a few seconds.
const isoCache = new Map<bigint, string>();
const ISO_CACHE_SIZE = 256;

/** `YYYY-MM-DDTHH:MM:SS` (or the six-digit year form) of a count of seconds since the epoch. */
function isoSeconds(seconds: bigint): string {
  let iso = isoCache.get(seconds);
  if (iso === undefined) {
    iso = new Date(Number(seconds) * 1000).toISOString().slice(0, -5); // drops ".sssZ"
    if (isoCache.size >= ISO_CACHE_SIZE) isoCache.clear();
    isoCache.set(seconds, iso);
  }
  return iso;
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

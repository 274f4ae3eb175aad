/**
 * Timestamps are kept as RFC 3339 strings with nine fractional digits, converted from and to
 * nanoseconds since the epoch as bigints so that no precision is lost on the way.
 */
const NS_PER_SECOND = 1_000_000_000n;

export function formatNanos(ns: bigint): string {
  let seconds = ns / NS_PER_SECOND;
  let fraction = ns % NS_PER_SECOND;
  if (fraction < 0n) {
    fraction += NS_PER_SECOND;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${iso}.${fraction.toString().padStart(9, "0")}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

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

import { UsageError } from "../errors.js";

/**
 * How many buckets a `--keep-*` count rule may use: a non-negative integer, or Infinity for
 * "unlimited" (restic uses -1; Infinity needs no special case when counting down).
 */
export type KeepCount = number;

/** Parses a `--keep-last|hourly|daily|weekly|monthly|yearly` value: `N`, `unlimited`, or restic's `-1` for it. */
export function parseKeepCount(text: string): KeepCount {
  if (text === "unlimited" || text === "-1") return Infinity;
  if (/^-\d+$/.test(text)) {
    throw new UsageError(`invalid count ${JSON.stringify(text)}: negative values other than -1 are not allowed, use 'unlimited' (or -1) instead`);
  }
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`invalid count ${JSON.stringify(text)}: expected a non-negative integer or 'unlimited'`);
  }
  return value;
}

/** True for the values a KeepCount may hold. */
export function isKeepCount(value: number): boolean {
  return value === Infinity || (Number.isSafeInteger(value) && value >= 0);
}

/** The inverse of parseKeepCount. */
export function formatKeepCount(count: KeepCount): string {
  return count === Infinity ? "unlimited" : String(count);
}

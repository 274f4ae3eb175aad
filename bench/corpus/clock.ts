/**
 * The corpus's fixed calendar: every timestamp (mtimes, tar headers, SQL rows) is derived from it,
 * never from the wall clock, so two generations are byte-identical.
 */
export const DAY_SECONDS = 86_400;

/** Midnight UTC of day 1 (2024-03-01). */
export const BASE_TIME = Date.UTC(2024, 2, 1) / 1000;

/** Start of corpus day `day` (day 1 is the initial state), in epoch seconds. */
export function dayStart(day: number): number {
  return BASE_TIME + (day - 1) * DAY_SECONDS;
}

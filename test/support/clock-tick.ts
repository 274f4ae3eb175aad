/**
 * A backup reads again, next time, a file changed within a clock tick of its start (the change
 * may have hidden another in the same tick): tests that expect a file to be recognised as
 * unchanged let that much time pass between writing it and backing it up.
 */
export function pastClockTick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 30));
}

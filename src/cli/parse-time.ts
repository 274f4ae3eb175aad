import { createRequire } from "node:module";
import { UsageError } from "../errors.js";

// chrono-node costs a quarter of a second and 20 MiB to load: only --at with a phrase needs it.
const loadChrono = () => createRequire(import.meta.url)("chrono-node") as typeof import("chrono-node");

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Parses a point in time for --at: ISO 8601 ("2026-11-17T09:00", "2026-11-17T09:00:00Z"; no
 * zone means local time; a date alone means its midnight) or an English phrase such as
 * "2 days ago", "yesterday 09:00" or "last tuesday 9am". chrono-node reads the phrases; we
 * accept its answer only when it accounts for the whole text, so a typo is an error rather
 * than a silently different time.
 */
export function parseTime(text: string, option = "--at", now: Date = new Date()): Date {
  const trimmed = text.trim();
  const date = DATE_ONLY.exec(trimmed);
  if (date) {
    // chrono would take noon for a bare date; like `date -d`, we take its start.
    const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const midnight = new Date(year, month - 1, day);
    if (midnight.getFullYear() === year && midnight.getMonth() === month - 1 && midnight.getDate() === day) return midnight;
  }
  const results = loadChrono().casual.parse(trimmed, now);
  const result = results.length === 1 ? results[0]! : undefined;
  if (!result || result.index !== 0 || result.text !== trimmed || result.end) {
    throw new UsageError(`${option}: cannot read ${JSON.stringify(text)} as a time (examples: 2026-11-17T09:00, "2 days ago", "yesterday 09:00")`);
  }
  return result.start.date();
}

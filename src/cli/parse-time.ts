import { createRequire } from "node:module";
import { UsageError } from "../errors.js";

// chrono-node costs a quarter of a second and 20 MiB to load: only --at with a phrase needs it.
const loadChrono = () => createRequire(import.meta.url)("chrono-node") as typeof import("chrono-node");

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** 05.03.2026 [10:00[:00]]: day first, as wherever dots separate a date (chrono reads it month first). */
const DOTTED = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
/** A fraction of a second in the text: then the time is taken as given, not to the end of its second. */
const FRACTION = /:\d{2}[.,]\d/;

function localDate(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): Date | undefined {
  const date = new Date(year, month - 1, day, hour, minute, second);
  const exists = date.getFullYear() === year && date.getMonth() === month - 1 && date.getDate() === day && hour < 24 && minute < 60 && second < 60;
  return exists ? date : undefined;
}

/**
 * Parses a point in time for --at: ISO 8601 ("2026-11-17T09:00", "2026-11-17T09:00:00Z"; no
 * zone means local time), a dotted day-first date ("17.11.2026 09:00"), or an English phrase
 * such as "2 days ago", "yesterday 09:00" or "last tuesday 9am". A date without a time means
 * its midnight, as with `date -d`; a date without a year the last such day, not the next.
 * chrono-node reads the phrases;
 * we accept its answer only when it accounts for the whole text, so a typo is an error rather
 * than a silently different time.
 */
export function parseTime(text: string, option = "--at", now: Date = new Date()): Date {
  const trimmed = text.trim();
  const time = readTime(trimmed, now);
  if (!time) throw new UsageError(`${option}: cannot read ${JSON.stringify(text)} as a time (examples: 2026-11-17T09:00, "2 days ago", "yesterday 09:00")`);
  return time;
}

/**
 * The last moment of the second `text` names (unless it gives a fraction of one): --at then
 * takes a time copied from `cairn snapshots`, shown to the second but stored to the
 * millisecond, as that snapshot's.
 */
export function throughItsSecond(text: string, time: Date): Date {
  return FRACTION.test(text) ? time : new Date(Math.floor(time.getTime() / 1000) * 1000 + 999);
}

function readTime(text: string, now: Date): Date | undefined {
  const date = DATE_ONLY.exec(text);
  if (date) {
    const midnight = localDate(Number(date[1]), Number(date[2]), Number(date[3]));
    if (midnight) return midnight;
  }
  const dotted = DOTTED.exec(text);
  if (dotted) {
    const [day, month, year, hour, minute, second] = dotted.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
    return localDate(year!, month!, day!, hour, minute, second);
  }
  const results = loadChrono().casual.parse(text, now);
  const result = results.length === 1 ? results[0]! : undefined;
  if (!result || result.index !== 0 || result.text !== text || result.end) return undefined;
  const start = result.start;
  const parsed = start.date();
  const tags = [...start.tags()];
  // "yesterday" and "2 days ago" keep the time of day; a calendar date without one is its start.
  const relative = tags.some((tag) => tag.startsWith("result/relative") || tag.startsWith("casualReference/"));
  if (!relative && !start.isCertain("hour")) parsed.setHours(0, 0, 0, 0);
  // chrono takes the nearest year ("March 15" in November is next March); --at looks back.
  if (!start.isCertain("year") && parsed.getTime() > now.getTime()) parsed.setFullYear(parsed.getFullYear() - 1);
  return parsed;
}

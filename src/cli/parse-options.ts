import bytes from "bytes";
import ms from "ms";
import { UsageError } from "../errors.js";

/** Parses a duration such as "30s", "5m", "2h" (plain numbers are seconds). */
export function parseDuration(text: string, option: string): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : ms(text as ms.StringValue);
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`${option}: invalid duration ${JSON.stringify(text)} (examples: 30s, 5m, 2h)`);
  }
  return value;
}

/** A number and an optional binary unit; restic's and borg's spellings 10M, 10MB, 10MiB all mean 10 * 2^20. */
const SIZE = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])(?:i?b)?|b)?$/i;

/** Parses a size such as "512K", "10MiB", "2G" (plain numbers are bytes); anything else is refused. */
export function parseSize(text: string, option: string): number {
  // Checked whole here: bytes.parse alone reads "1Mo" as 1 byte.
  const match = SIZE.exec(text.trim());
  const value = match ? bytes.parse(`${match[1]}${match[2] ?? ""}b`) : null;
  if (value === null || !Number.isFinite(value)) {
    throw new UsageError(`${option}: invalid size ${JSON.stringify(text)} (a number with an optional unit K, M, G, T or P, e.g. 512K, 10M, 2G)`);
  }
  return value;
}

export function parseInteger(text: string, option: string, min = 0): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`${option}: expected a whole number${min > 0 ? ` of at least ${min}` : ""}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Accumulates a repeatable option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Accumulates a repeatable option of comma-separated tags (`--tag a,b --tag c`, as in restic), leaving out empty ones. */
export function collectTags(value: string, previous: string[] = []): string[] {
  const tags = value.split(",").map((tag) => tag.trim()).filter(Boolean);
  return [...new Set([...previous, ...tags])];
}

export function formatBytes(n: number): string {
  return bytes.format(n, { unitSeparator: " ", decimalPlaces: 2 }) ?? `${n} B`;
}

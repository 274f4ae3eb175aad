import { UsageError } from "../errors.js";

/**
 * How much unused data prune may leave in packs it keeps (restic's `--max-unused`): a share of
 * the used data, an absolute size, or no limit (then only wholly unused packs are removed).
 */
export type UnusedLimit = { percent: number } | { bytes: number } | "unlimited";

/** Parses `5%`, `0%`, `unlimited`, or a size understood by `parseSize` (e.g. `2G`). */
export function parseUnusedLimit(text: string, parseSize: (text: string) => number): UnusedLimit {
  const trimmed = text.trim();
  if (trimmed === "unlimited") return "unlimited";
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(trimmed);
  if (percent) {
    const value = Number(percent[1]);
    if (value > 100) throw new UsageError(`--max-unused: ${text} is more than 100%`);
    return value === 100 ? "unlimited" : { percent: value };
  }
  return { bytes: parseSize(trimmed) };
}

/**
 * The unused bytes tolerated beside `usedBytes` of used data. A percentage is of the whole
 * repository after pruning, as in restic: 5% allows unused = used * 5 / 95.
 */
export function unusedAllowance(limit: UnusedLimit, usedBytes: number): number {
  if (limit === "unlimited") return Infinity;
  if ("bytes" in limit) return limit.bytes;
  return (usedBytes * limit.percent) / (100 - limit.percent);
}

import { UsageError } from "../errors.js";
import type { Id } from "../store/id.js";

/** Which packs `check --read-data-subset` reads. */
export type PackSubset =
  | { kind: "all" }
  /** Bucket n of m by the pack id's first byte: m runs with n = 1…m read every pack exactly once. */
  | { kind: "bucket"; n: number; m: number }
  | { kind: "percent"; percent: number }
  | { kind: "size"; bytes: number };

/** Parses `N/M`, `P%` or a size (parsed by `parseSize`, so the CLI's size syntax applies). */
export function parsePackSubset(text: string, parseSize: (text: string) => number): PackSubset {
  const bucket = /^(\d+)\/(\d+)$/.exec(text);
  if (bucket) {
    const n = Number(bucket[1]);
    const m = Number(bucket[2]);
    if (m < 1 || m > 256 || n < 1 || n > m) throw new UsageError(`--read-data-subset ${text}: need 1 <= N <= M <= 256`);
    return { kind: "bucket", n, m };
  }
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    if (!(value > 0 && value <= 100)) throw new UsageError(`--read-data-subset ${text}: the percentage must be above 0 and at most 100`);
    return { kind: "percent", percent: value };
  }
  const bytes = sizeOrUsageError(text, parseSize);
  if (bytes <= 0) throw new UsageError(`--read-data-subset ${text}: the size must be above 0`);
  return { kind: "size", bytes };
}

/** What is neither N/M nor P% must be a size; if it is not, the error names all three forms. */
function sizeOrUsageError(text: string, parseSize: (text: string) => number): number {
  try {
    return parseSize(text);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    throw new UsageError(`--read-data-subset ${JSON.stringify(text)}: expected N/M, P% or a size (e.g. 1/7, 10%, 5G)`);
  }
}

function shuffled<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Picks packs to read. Buckets are deterministic (restic's rule: first byte of the id modulo m),
 * so a schedule of m runs covers the repository; percentages and sizes pick at random, so
 * repeated runs cover different packs.
 */
export function selectPacks(packs: ReadonlyMap<Id, number>, subset: PackSubset, random: () => number = Math.random): Id[] {
  const ids = [...packs.keys()].sort();
  switch (subset.kind) {
    case "all":
      return ids;
    case "bucket":
      return ids.filter((id) => parseInt(id.slice(0, 2), 16) % subset.m === subset.n - 1);
    case "percent":
      return shuffled(ids, random).slice(0, Math.ceil((ids.length * subset.percent) / 100)).sort();
    case "size": {
      const chosen: Id[] = [];
      let total = 0;
      for (const id of shuffled(ids, random)) {
        if (total >= subset.bytes) break;
        chosen.push(id);
        total += packs.get(id)!;
      }
      return chosen.sort();
    }
  }
}

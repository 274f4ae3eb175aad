import type { BigIntStats } from "node:fs";
import * as fs from "node:fs/promises";
import type { ExcludeFilter } from "./backup-context.js";
import { holdsExclusionMarker, parseExclusionMarker, type ExclusionMarker } from "./exclusion-marker.js";

/** What a backup will go through, as far as the scan has got. */
export interface ScanTotals {
  files: number;
  dirs: number;
  bytes: number;
  /** True once the whole tree has been scanned: the totals are final. */
  done: boolean;
}

export interface ScanOptions {
  exclude?: ExcludeFilter;
  /** `NAME[:HEADER]` markers, as for the backup (see ExclusionMarker). */
  excludeIfPresent?: readonly string[];
  oneFileSystem?: boolean;
  signal?: AbortSignal;
}

const STAT_BATCH = 64;

/**
 * Walks the paths with the backup's own exclusion rules and adds up files and bytes, so a
 * progress display can show a percentage and an ETA. It runs beside the backup and only
 * lstat()s; anything it cannot read is left for the backup to report.
 */
export async function scanTotals(roots: readonly string[], options: ScanOptions, totals: ScanTotals = { files: 0, dirs: 0, bytes: 0, done: false }): Promise<ScanTotals> {
  const markers = (options.excludeIfPresent ?? []).map(parseExclusionMarker);
  for (const root of roots) {
    if (options.signal?.aborted) break;
    const st = await fs.lstat(root, { bigint: true }).catch(() => undefined);
    if (st) await scanEntry(Buffer.from(root), st, st.dev, options, markers, totals);
  }
  totals.done = !options.signal?.aborted;
  return totals;
}

async function scanEntry(path: Buffer, st: BigIntStats, rootDevice: bigint, options: ScanOptions, markers: readonly ExclusionMarker[], totals: ScanTotals): Promise<void> {
  const isDir = st.isDirectory();
  if (options.exclude?.(path.toString("utf8"), isDir, Number(st.size))) return;
  if (!isDir) {
    if (st.isFile()) {
      totals.files++;
      totals.bytes += Number(st.size);
    }
    return;
  }
  totals.dirs++;
  if (options.oneFileSystem && st.dev !== rootDevice) return;
  const names = await fs.readdir(path, { encoding: "buffer" }).catch(() => [] as Buffer[]);
  if (markers.length > 0 && holdsExclusionMarker(path, names, markers)) {
    totals.dirs--;
    return;
  }
  const prefix = path.length === 1 ? path : Buffer.concat([path, Buffer.from("/")]);
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    if (options.signal?.aborted) return;
    const batch = names.slice(i, i + STAT_BATCH).map((name) => Buffer.concat([prefix, name]));
    const stats = await Promise.all(batch.map((p) => fs.lstat(p, { bigint: true }).catch(() => undefined)));
    for (let j = 0; j < batch.length; j++) {
      const child = stats[j];
      if (child) await scanEntry(batch[j]!, child, rootDevice, options, markers, totals);
    }
  }
}

import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { snapshotStats, type SnapshotStats } from "../../stats/snapshot-stats.js";
import { selectSnapshots } from "../../store/snapshot/snapshot-filter.js";
import { commandContext } from "../command-context.js";
import type { Output } from "../output.js";
import { formatBytes } from "../parse-options.js";
import { withRepository } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface StatsFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  mode: string;
}

const MODES = ["all", "restore-size", "raw-data", "files-by-contents"] as const;
type Mode = (typeof MODES)[number];

const times = (r: number) => `${r.toFixed(2)}x`;

/** One JSON document per mode; the single-mode ones use restic's field names. */
function statsJson(s: SnapshotStats, mode: Mode): Record<string, unknown> {
  const r = s.rawData;
  switch (mode) {
    case "restore-size":
      return { total_size: s.restoreSize.bytes, total_file_count: s.restoreSize.files, snapshots_count: s.snapshots };
    case "files-by-contents":
      return { total_size: r.uniqueFileBytes, total_file_count: r.uniqueFiles, snapshots_count: s.snapshots };
    case "raw-data":
      return {
        total_size: r.storedBytes,
        total_uncompressed_size: r.plainBytes,
        compression_ratio: s.compressionRatio,
        compression_space_saving: r.plainBytes === 0 ? 0 : (1 - r.storedBytes / r.plainBytes) * 100,
        total_blob_count: r.dataBlobs + r.treeBlobs,
        missing_blob_count: r.missingBlobs,
        snapshots_count: s.snapshots,
      };
    case "all":
      return {
        snapshots_count: s.snapshots,
        restore_size: { files: s.restoreSize.files, dirs: s.restoreSize.dirs, others: s.restoreSize.others, bytes: s.restoreSize.bytes },
        unique_files: { files: r.uniqueFiles, bytes: r.uniqueFileBytes },
        raw_data: { data_blobs: r.dataBlobs, tree_blobs: r.treeBlobs, data_bytes: r.dataPlainBytes, plain_bytes: r.plainBytes, stored_bytes: r.storedBytes, missing_blobs: r.missingBlobs },
        deduplication_ratio: s.deduplicationRatio,
        compression_ratio: s.compressionRatio,
        total_ratio: s.totalRatio,
      };
  }
}

function printStats(out: Output, s: SnapshotStats, mode: Mode): void {
  const r = s.rawData;
  const row = (label: string, value: string) => out.result(`  ${(label + ":").padEnd(22)}${value}`);
  out.result(`Stats for ${s.snapshots} snapshot${s.snapshots === 1 ? "" : "s"}:`);
  if (mode === "all" || mode === "restore-size") {
    row("Restore size", `${formatBytes(s.restoreSize.bytes)} in ${s.restoreSize.files} files, ${s.restoreSize.dirs} dirs, ${s.restoreSize.others} others`);
  }
  if (mode === "all" || mode === "files-by-contents") row("Unique files", `${formatBytes(r.uniqueFileBytes)} in ${r.uniqueFiles} files`);
  if (mode === "all" || mode === "raw-data") {
    row("Blobs", `${r.dataBlobs} data, ${r.treeBlobs} tree${r.missingBlobs ? `, ${r.missingBlobs} MISSING (run cairn check)` : ""}`);
    row("Raw data", `${formatBytes(r.plainBytes)} uncompressed, ${formatBytes(r.storedBytes)} stored`);
    row("Compression ratio", times(s.compressionRatio));
  }
  if (mode === "all") {
    row("Deduplication ratio", times(s.deduplicationRatio));
    row("Total ratio", `${times(s.totalRatio)} (restore size / stored size)`);
  }
}

export function registerStats(program: Command): void {
  addSnapshotFilterOptions(program.command("stats").description("sizes, deduplication and compression of snapshots (default: all of them)"))
    .argument("[snapshots...]", "snapshot ids, unique prefixes or latest")
    .option("--mode <mode>", `what to count: ${MODES.join(", ")}`, "all")
    .action(async (selectors: string[], flags: StatsFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      if (!MODES.includes(flags.mode as Mode)) throw new UsageError(`--mode must be one of ${MODES.join(", ")}`);
      const mode = flags.mode as Mode;
      await withRepository(globals, out, "read", async (repo) => {
        const snapshots = selectSnapshots(await repo.listSnapshots(), selectors, snapshotFilter(flags));
        const stats = await snapshotStats(repo, snapshots);
        out.document(statsJson(stats, mode));
        printStats(out, stats, mode);
      });
    });
}

import type { Command } from "commander";
import { prune, type PruneResult } from "../../prune/prune.js";
import { parseUnusedLimit, type UnusedLimit } from "../../prune/unused-limit.js";
import type { Repository } from "../../store/repository.js";
import { abortOnSignals } from "../abort-on-signals.js";
import { commandContext } from "../command-context.js";
import type { Output } from "../output.js";
import { formatBytes, parseSize } from "../parse-options.js";
import { ProgressLine } from "../progress.js";
import { withRepository } from "../repository-session.js";

export interface PruneFlags {
  dryRun: boolean;
  maxUnused: string;
  maxRepackSize?: string;
}

/** --max-unused and --max-repack-size, shared by `prune` and `forget --prune`. */
export function addPruneOptions(command: Command): Command {
  return command
    .option("--max-unused <limit>", "unused data to tolerate in packs that stay: a share of the used data (5%), a size (2G), or unlimited", "5%")
    .option("--max-repack-size <size>", "repack at most this much pack data in this run (e.g. 10G; default: no limit)");
}

export interface PruneSettings {
  maxUnused: UnusedLimit;
  maxRepackSize: number;
}

export function pruneSettings(flags: PruneFlags): PruneSettings {
  return {
    maxUnused: parseUnusedLimit(flags.maxUnused, (text) => parseSize(text, "--max-unused")),
    maxRepackSize: flags.maxRepackSize === undefined ? Infinity : parseSize(flags.maxRepackSize, "--max-repack-size"),
  };
}

/** Runs prune on an open repository (the caller holds the exclusive lock) and reports it. */
export async function runPrune(repo: Repository, out: Output, settings: PruneSettings, dryRun: boolean, excludeSnapshots?: ReadonlySet<string>): Promise<PruneResult> {
  let status = "";
  const progress = !out.quiet && !out.json && process.stderr.isTTY ? new ProgressLine(process.stderr, () => status) : undefined;
  progress?.start();
  let result: PruneResult;
  try {
    result = await abortOnSignals((signal) => prune(repo, {
      ...settings,
      dryRun,
      signal,
      ...(excludeSnapshots ? { excludeSnapshots } : {}),
      onPhase: (text) => {
        progress?.clear();
        status = "";
        out.info(text);
      },
      onProgress: (p) => {
        status = p.phase === "walk" ? `${p.trees} trees read, ${p.blobs} blobs in use` : `${p.packsRead}/${p.packsTotal} packs repacked, ${formatBytes(p.bytesRead)} read, ${p.packsWritten} written`;
      },
    }));
  } finally {
    progress?.stop();
  }
  reportPrune(out, result);
  return result;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function reportPrune(out: Output, r: PruneResult): void {
  const p = r.plan;
  const would = r.dryRun ? "would " : "";
  out.line(`${plural(r.snapshots, "snapshot")} use${r.snapshots === 1 ? "s" : ""} ${plural(p.usedBlobs, "blob")} (${formatBytes(p.usedBytes)} stored); ${plural(p.packCount, "pack")} hold ${formatBytes(p.packBytes)}, ${formatBytes(p.unusedBytes)} of it unused`);
  const unusedPacks = p.remove.length + p.unindexed.length;
  out.line(
    `${would}remove ${plural(unusedPacks, "unused pack")} (${formatBytes(sumSizes(p.remove) + sumSizes(p.unindexed))}` +
      `${p.unindexed.length > 0 ? `, ${p.unindexed.length} of them in no index` : ""})`,
  );
  out.line(
    `${would}repack ${plural(p.repack.length, "pack")} (${formatBytes(r.bytesRepacked)})` +
      (r.dryRun ? ` keeping about ${formatBytes(r.bytesWritten)} of used data` : ` into ${plural(r.packsWritten, "new pack")} (${formatBytes(r.bytesWritten)})`),
  );
  if (p.missing.length > 0) out.line(`${would}drop ${plural(p.missing.length, "missing pack")} that held nothing in use from the index`);
  out.line(`unused data left in packs that stay: ${formatBytes(p.unusedAfter)}`);
  const freed = r.repositoryBytesBefore - r.repositoryBytesAfter;
  out.line(
    r.dryRun
      ? `repository: ${formatBytes(r.repositoryBytesBefore)} now, about ${formatBytes(r.repositoryBytesAfter)} after: about ${formatBytes(freed)} would be freed (dry run: nothing was changed)`
      : `repository: ${formatBytes(r.repositoryBytesBefore)} before, ${formatBytes(r.repositoryBytesAfter)} after: ${formatBytes(freed)} freed`,
  );
  out.record({
    message_type: "prune_summary",
    dry_run: r.dryRun,
    snapshots: r.snapshots,
    used_blobs: p.usedBlobs,
    used_bytes: p.usedBytes,
    unused_bytes: p.unusedBytes,
    unused_bytes_after: p.unusedAfter,
    packs: p.packCount,
    packs_removed: r.packsRemoved,
    bytes_removed: r.bytesRemoved,
    packs_unindexed_removed: p.unindexed.length,
    packs_repacked: r.packsRepacked,
    bytes_repacked: r.bytesRepacked,
    packs_written: r.packsWritten,
    bytes_written: r.bytesWritten,
    missing_packs_dropped: p.missing.length,
    index_files_written: r.indexFilesWritten,
    index_files_removed: r.indexFilesRemoved,
    repository_bytes_before: r.repositoryBytesBefore,
    repository_bytes_after: r.repositoryBytesAfter,
  });
}

function sumSizes(packs: readonly { size: number }[]): number {
  return packs.reduce((n, p) => n + p.size, 0);
}

export function registerPrune(program: Command): void {
  addPruneOptions(
    program
      .command("prune")
      .description("remove data no snapshot needs: delete unused packs, repack partly used ones")
      .option("-n, --dry-run", "report what would be removed and repacked; change nothing", false),
  ).action(async (flags: PruneFlags, command: Command) => {
    const { globals, out } = commandContext(command);
    const settings = pruneSettings(flags);
    await withRepository(globals, out, flags.dryRun ? "read" : "exclusive", (repo) => runPrune(repo, out, settings, flags.dryRun));
  });
}

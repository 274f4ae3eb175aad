import * as os from "node:os";
import { CairnError, InterruptedError } from "../errors.js";
import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { Snapshot, StoredSnapshot } from "../store/snapshot/snapshot.js";
import { PROGRAM_VERSION } from "../version.js";
import { emptyCounters, type BackupContext, type BackupCounters, type BackupWarning, type ExcludeFilter } from "./backup-context.js";
import type { BackupSource } from "./backup-source.js";
import { FileBatcher } from "./file-batcher.js";
import { ParentListings } from "./parent-listing.js";
import { DryRunSink, type BlobSink } from "./blob-sink.js";
import { parseExclusionMarker } from "./exclusion-marker.js";
import { racyTimes, type ChangeDetectionOptions, type RacyTimes } from "./change-detection.js";
import { ParentLookup } from "./parent-lookup.js";
import { SnapshotTreeBuilder } from "./snapshot-tree-builder.js";

export interface BackupOptions {
  sources: BackupSource[];
  hostname?: string;
  tags?: string[];
  /** The snapshot to compare against; see findParentSnapshot. */
  parent?: StoredSnapshot;
  changeDetection?: Partial<ChangeDetectionOptions>;
  exclude?: ExcludeFilter;
  /** Directories holding a file of one of these names are left out; `NAME:HEADER` only if the file begins with HEADER (see ExclusionMarker). */
  excludeIfPresent?: string[];
  oneFileSystem?: boolean;
  /** Read everything and count what would be added, but write nothing to the repository. */
  dryRun?: boolean;
  /** Time recorded in the snapshot (default: when the backup started). */
  time?: Date;
  /** Write no snapshot when the backup's tree is the parent's: nothing changed, metadata included. */
  skipIfUnchanged?: boolean;
  /** Counters to update as the backup goes (for a progress display); fresh ones otherwise. */
  counters?: BackupCounters;
  onWarning?: (warning: BackupWarning) => void;
  onFile?: (path: string) => void;
  signal?: AbortSignal;
}

export interface BackupResult {
  /** Absent for a dry run, and when `skipIfUnchanged` wrote none. */
  snapshotId?: Id;
  /** `skipIfUnchanged` found the parent's tree: no snapshot was written. */
  unchanged?: boolean;
  snapshot: Snapshot;
  warnings: BackupWarning[];
  counters: BackupCounters;
}

/** The newest snapshot of the same host and the same set of paths: the default parent. */
export function findParentSnapshot(snapshots: readonly StoredSnapshot[], hostname: string, paths: readonly string[]): StoredSnapshot | undefined {
  const wanted = [...paths].sort().join("\0");
  let best: StoredSnapshot | undefined;
  for (const s of snapshots) {
    if (s.hostname !== hostname || [...s.paths].sort().join("\0") !== wanted) continue;
    if (!best || Date.parse(s.time) >= Date.parse(best.time)) best = s;
  }
  return best;
}

/**
 * Runs a backup: every source is archived into one tree, every blob is flushed, and only then
 * is the snapshot written, so no snapshot can reference anything that is not durable. When a
 * source fails or the run is interrupted, what was written so far is still flushed and
 * indexed (so the next run reuses it) and no snapshot is written.
 */
export async function runBackup(repo: Repository, options: BackupOptions): Promise<BackupResult> {
  if (options.sources.length === 0) throw new CairnError("nothing to back up: give at least one path or source");
  const start = new Date();
  const warnings: BackupWarning[] = [];
  const counters = options.counters ?? emptyCounters();
  const sink: BlobSink = options.dryRun ? new DryRunSink(repo) : repo;
  const ctx: BackupContext = {
    repo: sink,
    changeDetection: { force: false, ignoreInode: false, ignoreCtime: false, ...options.changeDetection },
    counters,
    exclusionMarkers: (options.excludeIfPresent ?? []).map(parseExclusionMarker),
    oneFileSystem: options.oneFileSystem ?? false,
    hardlinks: new Map(),
    files: new FileBatcher(sink, { onBytes: (n) => (counters.bytesProcessed += n), signal: options.signal }),
    parents: new ParentListings(sink),
    warn: (warning) => {
      counters.errors++;
      warnings.push(warning);
      options.onWarning?.(warning);
    },
  };
  if (options.parent) ctx.racy = racyTimesOf(options.parent);
  if (options.exclude) ctx.exclude = options.exclude;
  if (options.onFile) ctx.onFile = options.onFile;
  if (options.signal) ctx.signal = options.signal;

  const tree = new SnapshotTreeBuilder();
  const parent = new ParentLookup(sink, options.parent?.tree);
  const blobsBefore = { ...sink.stats.blobsAdded };
  const bytesBefore = sink.stats.bytesAdded;
  const storedBefore = sink.stats.bytesAddedStored;
  let rootTree: Id;
  let flushed = false;
  try {
    // A path before the paths inside it, which it then covers: archived once, counted once.
    const byPath = [...options.sources].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const source of byPath) {
      if (options.signal?.aborted) throw new InterruptedError();
      await source.archive(ctx, tree, parent);
    }
    rootTree = await tree.write(sink);
    await sink.flush();
    flushed = true;
    if (options.signal?.aborted) throw new InterruptedError();
  } catch (err) {
    await sink.flush().catch(() => undefined);
    throw err;
  } finally {
    await ctx.parents.close(flushed);
  }

  const facts = mergeFacts(options.sources.map((s) => s.facts ?? {}));
  const user = os.userInfo();
  const snapshot: Snapshot = {
    time: (options.time ?? start).toISOString(),
    tree: rootTree,
    paths: options.sources.map((s) => s.path),
    hostname: options.hostname ?? os.hostname(),
    username: user.username,
    uid: user.uid,
    gid: user.gid,
    tags: [...new Set(options.tags ?? [])].sort(),
    programVersion: `cairn ${PROGRAM_VERSION}`,
    summary: {
      backupStart: start.toISOString(),
      backupEnd: new Date().toISOString(),
      filesNew: counters.filesNew,
      filesChanged: counters.filesChanged,
      filesUnmodified: counters.filesUnmodified,
      dirsNew: counters.dirsNew,
      dirsChanged: counters.dirsChanged,
      dirsUnmodified: counters.dirsUnmodified,
      dataBlobs: sink.stats.blobsAdded.data - blobsBefore.data,
      treeBlobs: sink.stats.blobsAdded.tree - blobsBefore.tree,
      dataAdded: sink.stats.bytesAdded - bytesBefore,
      dataAddedPacked: sink.stats.bytesAddedStored - storedBefore,
      totalFilesProcessed: counters.filesProcessed,
      totalBytesProcessed: counters.bytesProcessed,
      filesRead: counters.filesRead,
    },
  };
  if (options.parent) snapshot.parent = options.parent.id;
  if (Object.keys(facts).length > 0) snapshot.source = facts;
  if (options.dryRun) return { snapshot, warnings, counters };
  if (options.skipIfUnchanged && options.parent?.tree === rootTree) return { snapshot, warnings, counters, unchanged: true };
  const snapshotId = await repo.saveSnapshot(snapshot);
  return { snapshotId, snapshot, warnings, counters };
}

/** The parent's backup start (else its time, which --time may have set); its end bounds the span only when known. */
function racyTimesOf(parent: StoredSnapshot): RacyTimes {
  const date = (text: string | undefined) => {
    const ms = text ? Date.parse(text) : Number.NaN;
    return Number.isNaN(ms) ? undefined : new Date(ms);
  };
  return racyTimes(date(parent.summary?.backupStart) ?? date(parent.time), date(parent.summary?.backupEnd));
}

/** The sources' facts in one record; a fact two sources state differently keeps both values ("a; b"). */
function mergeFacts(all: readonly Record<string, string>[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const facts of all) {
    for (const [key, value] of Object.entries(facts)) {
      const known = merged[key];
      if (known === undefined) merged[key] = value;
      else if (!known.split("; ").includes(value)) merged[key] = `${known}; ${value}`;
    }
  }
  return merged;
}

import * as path from "node:path";
import { CairnError, IntegrityError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { shortId, type Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import { listIndexFiles, readIndexFile, syncIndexDb } from "../store/index/index-sync.js";
import { packKey } from "../store/pack/pack-format.js";
import { listPacks } from "../store/pack/pack-list.js";
import type { Repository } from "../store/repository.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { BlobIdSet } from "./blob-id-set.js";
import { preferDenserCopies } from "./duplicate-copies.js";
import { planPrune, type PrunePlan, type PrunePlanOptions } from "./prune-plan.js";
import { IndexFileWriter, repackPacks, type RepackProgress } from "./repacker.js";
import { findUsedBlobs, type UsedBlobsProgress } from "./used-blobs.js";

export interface PruneOptions extends PrunePlanOptions {
  /** Plan and report only; change nothing. */
  dryRun: boolean;
  /** Dry run only: snapshots to treat as already removed, so `forget --prune --dry-run` can
   * report on what would remain. Ignored otherwise, so it can never cost a snapshot its data. */
  excludeSnapshots?: ReadonlySet<Id>;
  /** Told what prune is doing, one line per phase. */
  onPhase?: (text: string) => void;
  /** Told how far the long phases (walking trees, repacking) have come. */
  onProgress?: (progress: PruneProgress) => void;
  /**
   * Stops the walk or the repacking at the next tree batch or pack (InterruptedError) with
   * nothing deleted; once repacking is done, the short rest runs to its end.
   */
  signal?: AbortSignal;
}

export type PruneProgress =
  | ({ phase: "walk" } & UsedBlobsProgress)
  | ({ phase: "repack"; packsTotal: number } & RepackProgress);

export interface PruneResult {
  dryRun: boolean;
  snapshots: number;
  plan: PrunePlan;
  /** Packs removed: nothing used them (indexed or not), or their used blobs were copied out. */
  packsRemoved: number;
  bytesRemoved: number;
  /** Of those, the packs whose used blobs were copied into new packs. */
  packsRepacked: number;
  bytesRepacked: number;
  /** New packs written by repacking (for a dry run, the bytes they would hold). */
  packsWritten: number;
  bytesWritten: number;
  indexFilesWritten: number;
  indexFilesRemoved: number;
  /** Packs, index files and snapshots before and after (for a dry run, the expected size after). */
  repositoryBytesBefore: number;
  repositoryBytesAfter: number;
}

/**
 * Removes the data no snapshot needs. Finds the used blobs by walking every snapshot (into an
 * on-disk set), plans with planPrune, then changes the repository in an order that keeps every
 * used blob indexed and present at every instant, so a crash anywhere loses nothing:
 *
 *  1. copy the used blobs of packs to repack into new packs (each durable before it is indexed);
 *  2. write index files for the new packs, and replacements for every index file that lists a
 *     pack being removed (without those packs) — all durable before anything is deleted;
 *  3. delete the replaced index files (packs they listed are now unindexed but still present);
 *  4. delete the packs: unused, repacked, and those no index file ever listed;
 *  5. take the deleted packs out of the index database (see syncIndexDb).
 *
 * A crash after 1 leaves unindexed packs, after 2 duplicate index entries, after 3 unindexed
 * packs: the next prune removes each (of a blob's copies it keeps the one in the pack most
 * densely used, see preferDenserCopies). The caller must hold the exclusive repository lock.
 */
export async function prune(repo: Repository, options: PruneOptions): Promise<PruneResult> {
  const packsByFile = await checkIndexFiles(repo);
  const phase = options.onPhase ?? (() => undefined);
  const scratchDir = path.dirname(repo.index.location);
  if (!options.dryRun) await BlobIdSet.removeStale(scratchDir);
  const repositoryBytesBefore = await repositorySize(repo.backend);

  const excluded = options.dryRun ? options.excludeSnapshots : undefined;
  const snapshots = (await listEverySnapshot(repo)).filter((s) => !excluded?.has(s.id));
  phase(`finding the blobs ${snapshots.length} snapshot(s) use`);
  const used = await findUsedBlobs(repo, snapshots, scratchDir, (p) => options.onProgress?.({ phase: "walk", ...p }), options.signal);
  try {
    const { packs: stored } = await listPacks(repo.backend);
    // Changes only which copy the index database names, which is no change to the repository.
    const readable = (id: Id, location: BlobLocation) =>
      repo.readBlobAt(id, location).then(
        () => true,
        (err: unknown) => (err instanceof CairnError ? false : Promise.reject(err)),
      );
    const relocated = await preferDenserCopies(repo.index, used, stored, readable);
    if (relocated > 0) phase(`${relocated} blob(s) are stored twice: using the copies in the packs most in use`);
    const plan = await planPrune(repo.index, used, stored, options);
    const result: PruneResult = {
      dryRun: options.dryRun,
      snapshots: snapshots.length,
      plan,
      packsRemoved: plan.remove.length + plan.unindexed.length + plan.repack.length,
      bytesRemoved: sum(plan.remove) + sum(plan.unindexed) + sum(plan.repack),
      packsRepacked: plan.repack.length,
      bytesRepacked: sum(plan.repack),
      packsWritten: 0,
      bytesWritten: options.dryRun ? plan.repack.reduce((n, p) => n + p.usedBytes, 0) : 0,
      indexFilesWritten: 0,
      indexFilesRemoved: 0,
      repositoryBytesBefore,
      repositoryBytesAfter: 0,
    };
    if (options.dryRun) {
      result.repositoryBytesAfter = repositoryBytesBefore - result.bytesRemoved + result.bytesWritten;
      return result;
    }

    const writer = new IndexFileWriter(repo.backend);
    if (plan.repack.length > 0) phase(`repacking ${plan.repack.length} pack(s)`);
    const written = await repackPacks(repo.backend, repo.index, used, plan.repack, repo.config.packSize, (pack) => {
      result.packsWritten++;
      result.bytesWritten += pack.size;
      return writer.add(pack);
    }, (p) => options.onProgress?.({ phase: "repack", packsTotal: plan.repack.length, ...p }), options.signal);

    // A pack this run wrote again (same bytes as one an interrupted prune left) stays.
    const doomed = [...plan.remove, ...plan.unindexed, ...plan.repack].filter((pack) => !written.has(pack.id));
    result.packsRemoved = doomed.length;
    result.bytesRemoved = sum(doomed);
    // Index files drop the doomed packs, and the missing ones that held nothing in use, unless
    // this run wrote one of those again: its blobs are in it, and unindexed it would be deleted.
    const dropped = new Set<Id>([...doomed.map((pack) => pack.id), ...plan.missing.filter((id) => !written.has(id))]);
    const replaced: Id[] = [];
    if (dropped.size > 0) {
      phase("rewriting the index");
      const fresh = new Set(writer.written);
      for (const id of await listIndexFiles(repo.backend)) {
        if (fresh.has(id) || packsByFile.get(id)?.every((pack) => !dropped.has(pack))) continue;
        const content = await readIndexFile(repo.backend, id);
        if (!content.packs.some((pack) => dropped.has(pack.id))) continue;
        replaced.push(id);
        for (const pack of content.packs) if (!dropped.has(pack.id)) await writer.add(pack);
      }
    }
    await writer.flush();
    result.indexFilesWritten = writer.written.length;

    if (replaced.length + doomed.length > 0) phase(`deleting ${replaced.length} index file(s), then ${doomed.length} pack(s)`);
    for (const id of replaced) await repo.backend.delete(`index/${id}`);
    result.indexFilesRemoved = replaced.length;
    for (const pack of doomed) await repo.backend.delete(packKey(pack.id));
    for (const prefix of ["data/", "index/"]) await repo.backend.removeTemporaryFiles?.(prefix);

    phase("updating the index database");
    await syncIndexDb(repo.index, repo.backend);
    result.repositoryBytesAfter = await repositorySize(repo.backend);
    return result;
  } finally {
    await used.destroy();
  }
}

/**
 * Refuses to start while an index file is damaged: the packs it lists would look unindexed,
 * and unindexed packs are deleted; and the index is rewritten from these files at the end.
 * Returns the packs each file lists, so that only the files listing a pack that goes are read
 * again then.
 */
async function checkIndexFiles(repo: Repository): Promise<Map<Id, Id[]>> {
  const damaged = (id: Id, message: string) => new IntegrityError(`index file ${shortId(id)} is damaged (${message}); nothing was deleted: run cairn repair index first`);
  const skipped = repo.indexStatus.damagedIndexFiles[0];
  if (skipped) throw damaged(skipped.id, skipped.message);
  const packsByFile = new Map<Id, Id[]>();
  for (const id of await listIndexFiles(repo.backend)) {
    try {
      packsByFile.set(id, (await readIndexFile(repo.backend, id)).packs.map((pack) => pack.id));
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      throw damaged(id, err.message);
    }
  }
  return packsByFile;
}

/**
 * Every snapshot, or an error naming the one that cannot be read: its trees are unknown, so
 * anything might be in use by it, and nothing may be deleted until it is forgotten or repaired.
 */
async function listEverySnapshot(repo: Repository): Promise<StoredSnapshot[]> {
  try {
    return await repo.listSnapshots({ strict: true });
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    throw new IntegrityError(`${err.message}; nothing was deleted: remove it with cairn forget ID (or run cairn check)`);
  }
}

function sum(packs: readonly { size: number }[]): number {
  return packs.reduce((n, p) => n + p.size, 0);
}

/** Bytes of everything prune can change or that counts as repository content. */
async function repositorySize(backend: Backend): Promise<number> {
  let bytes = 0;
  for (const prefix of ["data/", "index/", "snapshots/"]) for await (const info of backend.list(prefix)) bytes += info.size;
  return bytes;
}

import { IntegrityError, NotFoundError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import type { Id } from "../id.js";
import { listPacks } from "../pack/pack-list.js";
import { readPackEntries } from "../pack/pack-reader.js";
import type { IndexDb } from "./index-db.js";
import type { IndexedPack } from "./index-file.js";
import { groupForIndexFiles, writeIndexFile } from "./index-writer.js";

export interface AdoptionResult {
  adopted: IndexedPack[];
  /** Unindexed packs whose trailer cannot be read: left alone, for check and repair index. */
  unreadable: { id: Id; message: string }[];
  /** Half-written objects a killed writer left behind, removed. */
  temporaryFilesRemoved: number;
}

/** Reads an unindexed pack's trailer; the pack is complete if it has a name at all (written under a temporary name, then linked). */
async function describeOrphan(backend: Backend, id: Id, size: number): Promise<IndexedPack> {
  const entries = await readPackEntries(backend, id, size);
  const type = entries[0]?.type;
  if (!type) throw new IntegrityError(`pack ${id} holds no blobs`);
  if (entries.some((e) => e.type !== type)) throw new IntegrityError(`pack ${id} mixes data and tree blobs`);
  return { id, type, size, entries };
}

/**
 * Indexes the packs under data/ that no index file lists. A writer indexes its packs every few
 * packs and at the end, so one killed part-way leaves its last packs unindexed: adopting them
 * makes the next backup reuse their blobs instead of storing them again. Only call this while
 * holding the index database and a repository lock, knowing the last writer died.
 */
export async function adoptOrphanPacks(backend: Backend, db: IndexDb): Promise<AdoptionResult> {
  const { packs } = await listPacks(backend);
  const adopted: IndexedPack[] = [];
  const unreadable: { id: Id; message: string }[] = [];
  for (const [id, size] of packs) {
    if (db.hasPack(id)) continue;
    try {
      adopted.push(await describeOrphan(backend, id, size));
    } catch (err) {
      if (!(err instanceof IntegrityError) && !(err instanceof NotFoundError)) throw err;
      unreadable.push({ id, message: err.message });
    }
  }
  for (const group of groupForIndexFiles(adopted)) await writeIndexFile(backend, db, group);
  let temporaryFilesRemoved = 0;
  // No live process can own these: writers of data/ and index/ hold the index database, and
  // tag and forget, which write snapshots/ without it, hold an exclusive repository lock.
  for (const prefix of ["data/", "index/", "snapshots/"]) temporaryFilesRemoved += (await backend.removeTemporaryFiles?.(prefix)) ?? 0;
  return { adopted, unreadable, temporaryFilesRemoved };
}

import { IntegrityError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { decompressDocument } from "../document-codec.js";
import { hashBytes, type Id } from "../id.js";
import { BlobIdFilter } from "./blob-id-filter.js";
import type { IndexDb } from "./index-db.js";
import { parseIndexFile, type IndexFileContent } from "./index-file.js";

export async function readIndexFile(backend: Backend, id: Id): Promise<IndexFileContent> {
  const stored = await backend.get(`index/${id}`);
  if (hashBytes(stored) !== id) throw new IntegrityError(`index ${id}: content does not match its name`);
  return parseIndexFile(id, decompressDocument(`index ${id}`, stored));
}

export async function listIndexFiles(backend: Backend): Promise<Id[]> {
  return [...(await indexFileSizes(backend)).keys()];
}

/** Each index file with its stored size. */
async function indexFileSizes(backend: Backend): Promise<Map<Id, number>> {
  const sizes = new Map<Id, number>();
  for await (const info of backend.list("index/")) sizes.set(info.key.slice("index/".length), info.size);
  return sizes;
}

/**
 * Every blob entry of an index file holds a 32-byte random id, which compression cannot make
 * smaller: a file lists at most this many blobs per stored byte.
 */
const MAX_BLOBS_PER_STORED_BYTE = 1 / 32;

/**
 * The packs that only `goneFiles` list among the files the database reflects, or undefined if the
 * database cannot take them out by itself (it was written before it recorded which packs each file
 * lists and which blobs each pack holds, or a pack is listed in more than one way): it is
 * rebuilt then.
 */
function packsOnlyIn(goneFiles: ReadonlySet<Id>, records: ReadonlyMap<Id, Id[] | undefined>, db: IndexDb): Set<Id> | undefined {
  // Which of a pack's listings the remaining files hold is not recorded.
  if (db.hasConflictingListings()) return undefined;
  const gone = new Set<Id>();
  const kept = new Set<Id>();
  for (const [file, packs] of records) {
    if (packs === undefined) return undefined;
    for (const pack of packs) (goneFiles.has(file) ? gone : kept).add(pack);
  }
  for (const pack of kept) gone.delete(pack);
  for (const pack of gone) if (!db.knowsPackBlobs(pack)) return undefined;
  return gone;
}

/**
 * Brings the database in line with `index/`: new index files are ingested; packs listed only by
 * files that have gone (prune replaced them) are taken out with their blobs. A database that
 * cannot do that (written by an older cairn, or left part-way by a crash) is rebuilt from scratch.
 * Returns what was done, for messages. With `onDamaged`, an index file that cannot be read or
 * parsed is reported and skipped (not recorded, so it is tried again next time) instead of
 * failing the whole sync: its packs are then simply unknown, as if unindexed.
 */
export async function syncIndexDb(db: IndexDb, backend: Backend, onDamaged?: (id: Id, err: IntegrityError) => void): Promise<"current" | "updated" | "rebuilt"> {
  const sizes = await indexFileSizes(backend);
  const present = [...sizes.keys()];
  const records = await db.indexFileRecords();
  // Told once per file, though a sync that finds it must rebuild reads the files again.
  const told = new Set<Id>();
  const tell =
    onDamaged &&
    ((id: Id, err: IntegrityError) => {
      if (told.has(id)) return;
      told.add(id);
      onDamaged(id, err);
    });
  // Filled from nothing, the database needs a lookup only for blobs this run may have added.
  const filterFor = (files: readonly Id[]) => {
    const capacity = files.reduce((n, id) => n + sizes.get(id)!, 0) * MAX_BLOBS_PER_STORED_BYTE;
    return Number.isFinite(capacity) ? new BlobIdFilter(capacity) : undefined;
  };
  const presentSet = new Set(present);
  const goneFiles = new Set([...records.keys()].filter((id) => !presentSet.has(id)));
  const rebuild = db.rebuildPending();
  const gonePacks = rebuild || goneFiles.size === 0 ? undefined : packsOnlyIn(goneFiles, records, db);
  const rebuildFromScratch = async () => {
    await db.clear();
    await ingest(db, backend, present, tell, filterFor(present));
    await db.finishRebuild();
    await db.compactBlobs();
    return "rebuilt" as const;
  };
  if (rebuild || (goneFiles.size > 0 && gonePacks === undefined)) return rebuildFromScratch();
  const toIngest = present.filter((id) => !records.has(id));
  if (gonePacks !== undefined) await db.setRebuildPending();
  // New files first: a pack they list again stays, and their copies of blobs in packs that go are promoted.
  const fresh = records.size === 0 && (await db.holdsNoBlobs());
  const { listed, agrees } = await ingest(db, backend, toIngest, tell, fresh ? filterFor(toIngest) : undefined);
  // A pack listed anew with other entries (repair index rewrote its listing from its trailer): what the database holds for it cannot be patched.
  if (!agrees) return rebuildFromScratch();
  if (gonePacks !== undefined) {
    for (const pack of listed) gonePacks.delete(pack);
    await db.removePacks(gonePacks);
    await db.forgetIndexFiles([...goneFiles]);
    await db.finishRebuild();
    return "updated";
  }
  if (fresh && toIngest.length > 0) {
    await db.compactBlobs();
    return "rebuilt";
  }
  return toIngest.length > 0 ? "updated" : "current";
}

/** Records `files` in the database; returns the packs they list, and whether each pack already recorded was listed as it was then. */
async function ingest(
  db: IndexDb,
  backend: Backend,
  files: readonly Id[],
  onDamaged: ((id: Id, err: IntegrityError) => void) | undefined,
  recorded?: BlobIdFilter,
): Promise<{ listed: Set<Id>; agrees: boolean }> {
  const listed = new Set<Id>();
  let agrees = true;
  for (const id of files) {
    let content: IndexFileContent;
    try {
      content = await readIndexFile(backend, id);
    } catch (err) {
      if (!(err instanceof IntegrityError) || !onDamaged) throw err;
      onDamaged(id, err);
      continue;
    }
    if (!(await db.addIndexFile(id, content.packs, recorded))) agrees = false;
    for (const pack of content.packs) listed.add(pack.id);
  }
  return { listed, agrees };
}

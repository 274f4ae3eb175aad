import type { Backend } from "../backend/backend.js";
import { storeNamedByHash } from "../backend/store-named-by-hash.js";
import { compressDocument } from "../document-codec.js";
import { hashBytes, type Id } from "../id.js";
import type { IndexDb } from "./index-db.js";
import { serializeIndexFile, type IndexedPack } from "./index-file.js";

/** Index files stay small enough to read whole: a writer starts a new one after this many blobs. */
export const MAX_INDEX_FILE_BLOBS = 50_000;

/**
 * Writes one index file for `packs` (durably, under its hash) and records it in the database.
 * A file of that name normally holds exactly this content (see storeNamedByHash).
 */
export async function writeIndexFile(backend: Backend, db: IndexDb | undefined, packs: readonly IndexedPack[]): Promise<Id> {
  const stored = compressDocument(serializeIndexFile({ packs: [...packs] }));
  const id = hashBytes(stored);
  await storeNamedByHash(backend, `index/${id}`, id, stored);
  await db?.addIndexFile(id, packs);
  return id;
}

/** Splits packs into groups of at most MAX_INDEX_FILE_BLOBS blobs (a bigger pack gets a file of its own). */
export function groupForIndexFiles(packs: readonly IndexedPack[]): IndexedPack[][] {
  const groups: IndexedPack[][] = [];
  let current: IndexedPack[] = [];
  let blobs = 0;
  for (const pack of packs) {
    if (current.length > 0 && blobs + pack.entries.length > MAX_INDEX_FILE_BLOBS) {
      groups.push(current);
      current = [];
      blobs = 0;
    }
    current.push(pack);
    blobs += pack.entries.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

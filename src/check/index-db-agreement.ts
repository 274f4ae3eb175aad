import { IntegrityError } from "../errors.js";
import type { Id } from "../store/id.js";
import type { IndexDb } from "../store/index/index-db.js";
import { listIndexFiles, readIndexFile } from "../store/index/index-sync.js";
import type { Backend } from "../store/backend/backend.js";

/**
 * How many blobs of the packs that exist the index files list but the index database does not
 * locate as they say: 0 when the database (a derived cache, which a damaged disk block can
 * change) agrees with them. Reads every index file: meant for the rare moment before data is
 * declared missing, not for every command.
 */
export async function blobsTheIndexDbMisses(backend: Backend, db: IndexDb, packs: ReadonlyMap<Id, number>): Promise<number> {
  let misses = 0;
  for (const file of await listIndexFiles(backend)) {
    let content;
    try {
      content = await readIndexFile(backend, file);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      continue;
    }
    for (const pack of content.packs) {
      if (!packs.has(pack.id)) continue;
      for (const entry of pack.entries) {
        const location = db.locationIn(entry.id, pack.id);
        if (!location || location.offset !== entry.offset || location.storedLength !== entry.storedLength || location.plainLength !== entry.plainLength) misses++;
      }
    }
  }
  return misses;
}

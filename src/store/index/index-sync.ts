import { IntegrityError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { decompressDocument } from "../document-codec.js";
import { hashBytes, type Id } from "../id.js";
import type { IndexDb } from "./index-db.js";
import { parseIndexFile, type IndexFileContent } from "./index-file.js";

export async function readIndexFile(backend: Backend, id: Id): Promise<IndexFileContent> {
  const stored = await backend.get(`index/${id}`);
  if (hashBytes(stored) !== id) throw new IntegrityError(`index ${id}: content does not match its name`);
  return parseIndexFile(id, decompressDocument(`index ${id}`, stored));
}

export async function listIndexFiles(backend: Backend): Promise<Id[]> {
  const ids: Id[] = [];
  for await (const info of backend.list("index/")) ids.push(info.key.slice("index/".length));
  return ids;
}

/**
 * Brings the database in line with `index/`: new index files are ingested; if any file the
 * database reflects has gone (prune replaced it), the database is rebuilt from scratch.
 * Returns what was done, for messages. With `onDamaged`, an index file that cannot be read or
 * parsed is reported and skipped (not recorded, so it is tried again next time) instead of
 * failing the whole sync: its packs are then simply unknown, as if unindexed.
 */
export async function syncIndexDb(db: IndexDb, backend: Backend, onDamaged?: (id: Id, err: IntegrityError) => void): Promise<"current" | "updated" | "rebuilt"> {
  const present = await listIndexFiles(backend);
  const known = await db.indexFiles();
  const presentSet = new Set(present);
  const gone = db.rebuildPending() || [...known].some((id) => !presentSet.has(id));
  if (gone) await db.clear();
  const toIngest = gone ? present : present.filter((id) => !known.has(id));
  for (const id of toIngest) {
    let content: IndexFileContent;
    try {
      content = await readIndexFile(backend, id);
    } catch (err) {
      if (!(err instanceof IntegrityError) || !onDamaged) throw err;
      onDamaged(id, err);
      continue;
    }
    await db.addIndexFile(id, content.packs);
  }
  if (gone) await db.finishRebuild();
  if (gone || known.size === 0 && toIngest.length > 0) return "rebuilt";
  return toIngest.length > 0 ? "updated" : "current";
}

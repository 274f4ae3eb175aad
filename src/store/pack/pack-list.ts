import type { Backend } from "../backend/backend.js";
import { isId, type Id } from "../id.js";
import { packKey } from "./pack-format.js";

export interface PackListing {
  /** Pack id -> size in bytes, for every well-named object under data/. */
  packs: Map<Id, number>;
  /** Objects under data/ that are not named like a pack (or sit in the wrong folder). */
  strays: string[];
}

/** Lists the packs in the repository. One listing of data/: cheap locally, a few requests per thousand packs remotely. */
export async function listPacks(backend: Backend): Promise<PackListing> {
  const packs = new Map<Id, number>();
  const strays: string[] = [];
  for await (const info of backend.list("data/")) {
    const id = info.key.slice(info.key.lastIndexOf("/") + 1);
    if (isId(id) && info.key === packKey(id)) packs.set(id, info.size);
    else strays.push(info.key);
  }
  return { packs, strays };
}

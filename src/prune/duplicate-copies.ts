import type { Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import type { IndexDb } from "../store/index/index-db.js";
import type { BlobIdSet } from "./blob-id-set.js";
import { packUsage } from "./prune-plan.js";

/**
 * Locates every used blob that is stored more than once in the pack with the most used data
 * for its size, counting every copy a pack holds; a copy in a pack that is present in `data/`
 * (`stored`) always beats one in a pack that is not. A prune killed after writing its new packs
 * leaves their copies beside old packs it had not deleted yet, and the index database keeps
 * whichever copy it read first: an old pack then looked used, was kept or repacked once more,
 * and the new pack's copy was waste. Chosen this way, the new packs hold the blobs and the old
 * ones are left with nothing in use. Returns how many blobs were relocated.
 */
export async function preferDenserCopies(index: IndexDb, used: BlobIdSet, stored: ReadonlyMap<Id, number>): Promise<number> {
  const copies: [Id, BlobLocation][] = [];
  for await (const [id, location] of index.duplicates()) if (used.has(id) && stored.has(location.packId)) copies.push([id, location]);
  if (copies.length === 0) return 0;
  const usage = await packUsage(index, used);
  // Used bytes per pack counting every copy it holds: what it would hold if it kept them all.
  const held = new Map<Id, number>();
  for (const pack of usage.values()) held.set(pack.id, pack.usedBytes);
  for (const [, copy] of copies) held.set(copy.packId, (held.get(copy.packId) ?? 0) + copy.storedLength);
  const density = (packId: Id) => (held.get(packId) ?? 0) / (usage.get(packId)?.size ?? Infinity);
  let relocated = 0;
  for (const [id, copy] of copies) {
    const current = index.lookup(id);
    if (!current || !usage.has(copy.packId)) continue;
    if (stored.has(current.packId) && density(copy.packId) <= density(current.packId)) continue;
    await index.relocate(id, current, copy);
    relocated++;
  }
  return relocated;
}

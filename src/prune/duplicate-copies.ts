import type { Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import type { IndexDb } from "../store/index/index-db.js";
import type { BlobIdSet } from "./blob-id-set.js";
import { packUsage } from "./prune-plan.js";

/**
 * Locates every used blob that is stored more than once in the pack with the most used data
 * for its size, counting every copy a pack holds. Only a copy in an intact pack (present in
 * `data/` at the size the index gives it: prune reads no pack it keeps) is ever chosen, and it
 * always beats one in a pack that is not; a copy of another type is never chosen for density (a
 * tree keeps its copy in a tree pack, whose reads are cached). A prune killed after writing
 * its new packs leaves their copies beside old packs it had not deleted yet, and the index
 * database keeps whichever copy it read first: an old pack then looked used, was kept or
 * repacked once more, and the new pack's copy was waste. Chosen this way, the new packs hold
 * the blobs and the old ones are left with nothing in use.
 *
 * The packs of the copies not chosen are then deleted as unused, so the copy chosen must read
 * back (`readable`: decoded and hashed); when it does not, another that does is chosen. Returns
 * how many blobs were relocated.
 */
export async function preferDenserCopies(
  index: IndexDb,
  used: BlobIdSet,
  stored: ReadonlyMap<Id, number>,
  readable: (id: Id, location: BlobLocation) => Promise<boolean>,
): Promise<number> {
  const copies: [Id, BlobLocation][] = [];
  for await (const [id, location] of index.duplicates()) if (used.has(id)) copies.push([id, location]);
  if (copies.length === 0) return 0;
  const usage = await packUsage(index, used);
  const intact = (packId: Id) => {
    const size = usage.get(packId)?.size;
    return size !== undefined && stored.get(packId) === size;
  };
  // Used bytes per pack counting every copy it holds: what it would hold if it kept them all.
  const held = new Map<Id, number>();
  for (const pack of usage.values()) held.set(pack.id, pack.usedBytes);
  for (const [, copy] of copies) held.set(copy.packId, (held.get(copy.packId) ?? 0) + copy.storedLength);
  const density = (packId: Id) => (held.get(packId) ?? 0) / (usage.get(packId)?.size ?? Infinity);
  // Every copy of each blob, the one the index names included, before any is relocated.
  const everyCopy = new Map<Id, BlobLocation[]>();
  for (const [id, copy] of copies) everyCopy.set(id, [...(everyCopy.get(id) ?? [index.lookup(id)!]), copy]);
  let relocated = 0;
  for (const [id, copy] of copies) {
    if (!intact(copy.packId)) continue;
    const current = index.lookup(id);
    if (!current || current.type !== copy.type) continue;
    if (intact(current.packId) && density(copy.packId) <= density(current.packId)) continue;
    await index.relocate(id, current, copy);
    relocated++;
  }
  for (const [id, all] of everyCopy) {
    const chosen = index.lookup(id)!;
    if (await readable(id, chosen)) continue;
    for (const copy of all) {
      if (copy.packId === chosen.packId || !intact(copy.packId) || !(await readable(id, copy))) continue;
      await index.relocate(id, chosen, copy);
      relocated++;
      break;
    }
  }
  return relocated;
}

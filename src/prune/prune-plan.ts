import { IntegrityError } from "../errors.js";
import type { BlobType } from "../store/blob-type.js";
import { shortId, type Id } from "../store/id.js";
import type { IndexDb } from "../store/index/index-db.js";
import { PACK_FOOTER_BYTES, TRAILER_ENTRY_BYTES } from "../store/pack/pack-format.js";
import type { BlobIdSet } from "./blob-id-set.js";
import { unusedAllowance, type UnusedLimit } from "./unused-limit.js";

/** How much of one indexed pack the remaining snapshots use. */
export interface PackUsage {
  id: Id;
  type: BlobType;
  size: number;
  blobCount: number;
  /** Used blobs whose indexed location is this pack (a copy elsewhere does not count). */
  usedBlobs: number;
  usedBytes: number;
  /** Stored bytes of the blobs nobody uses here; the pack's trailer is not counted. */
  unusedBytes: number;
}

export interface StoredPack {
  id: Id;
  size: number;
}

export interface PrunePlanOptions {
  maxUnused: UnusedLimit;
  /** Stop choosing packs to repack once their total size would pass this. */
  maxRepackSize: number;
}

export interface PrunePlan {
  /** Distinct blobs the snapshots use. */
  usedBlobs: number;
  /** Every pack in `data/`, and their total size. */
  packCount: number;
  packBytes: number;
  usedBytes: number;
  unusedBytes: number;
  /** Indexed packs no snapshot uses anything from. */
  remove: PackUsage[];
  /** Packs in `data/` that no index file lists (left by an interrupted backup or prune). */
  unindexed: StoredPack[];
  /** Indexed packs that are gone from `data/` and held nothing in use: dropped from the index. */
  missing: Id[];
  /** Partly used packs whose used blobs are copied into new packs before they are removed. */
  repack: PackUsage[];
  /** Unused bytes left in packs that stay. */
  unusedAfter: number;
}

/**
 * Decides what prune does: remove packs nothing uses, and repack the most wasteful partly used
 * packs (highest unused share first) until the unused data left is within `maxUnused`. Reads the
 * index database and `used` in one merged pass over their sorted ids.
 */
export async function planPrune(index: IndexDb, used: BlobIdSet, stored: ReadonlyMap<Id, number>, options: PrunePlanOptions): Promise<PrunePlan> {
  const usage = await packUsage(index, used);

  const plan: PrunePlan = {
    usedBlobs: used.size,
    packCount: stored.size,
    packBytes: 0,
    usedBytes: 0,
    unusedBytes: 0,
    remove: [],
    unindexed: [],
    missing: [],
    repack: [],
    unusedAfter: 0,
  };
  const lost: Id[] = [];
  for (const pack of usage.values()) {
    const size = stored.get(pack.id);
    if (size === undefined) {
      if (pack.usedBlobs > 0) lost.push(pack.id);
      else plan.missing.push(pack.id);
      continue;
    }
    if (size !== pack.size) {
      throw new IntegrityError(`pack ${shortId(pack.id)} is ${size} bytes but the index says ${pack.size}; nothing was deleted — run cairn check`);
    }
    pack.unusedBytes = pack.size - PACK_FOOTER_BYTES - pack.blobCount * TRAILER_ENTRY_BYTES - pack.usedBytes;
    plan.usedBytes += pack.usedBytes;
    plan.unusedBytes += pack.unusedBytes;
    if (pack.usedBlobs === 0) plan.remove.push(pack);
  }
  if (lost.length > 0) {
    throw new IntegrityError(
      `${lost.length} pack(s) holding blobs that snapshots need are missing (${lost.slice(0, 3).map(shortId).join(", ")}); nothing was deleted — run cairn check`,
    );
  }
  for (const [id, size] of stored) {
    plan.packBytes += size;
    if (!usage.has(id)) {
      plan.unindexed.push({ id, size });
      plan.unusedBytes += size;
    }
  }

  const allowance = unusedAllowance(options.maxUnused, plan.usedBytes);
  const partlyUsed = [...usage.values()].filter((p) => p.usedBlobs > 0 && p.unusedBytes > 0 && stored.has(p.id));
  // Most wasteful first; ties by id so the plan does not depend on listing order.
  partlyUsed.sort((a, b) => b.unusedBytes / b.size - a.unusedBytes / a.size || (a.id < b.id ? -1 : 1));
  let unusedAfter = partlyUsed.reduce((sum, p) => sum + p.unusedBytes, 0);
  let repackBytes = 0;
  for (const pack of partlyUsed) {
    if (unusedAfter <= allowance) break;
    if (repackBytes + pack.size > options.maxRepackSize) continue;
    plan.repack.push(pack);
    repackBytes += pack.size;
    unusedAfter -= pack.unusedBytes;
  }
  plan.unusedAfter = unusedAfter;
  return plan;
}

/** Every indexed pack with the used blobs the index locates in it (unusedBytes still 0). */
export async function packUsage(index: IndexDb, used: BlobIdSet): Promise<Map<Id, PackUsage>> {
  const usage = new Map<Id, PackUsage>();
  for await (const pack of index.packs()) {
    usage.set(pack.id, { id: pack.id, type: pack.type, size: pack.size, blobCount: pack.blobCount, usedBlobs: 0, usedBytes: 0, unusedBytes: 0 });
  }
  await countUsedBytes(index, used, usage);
  return usage;
}

/**
 * Adds each used blob's stored size to the pack the index locates it in, walking the index's
 * blobs and the used set side by side (both ascend by id). A used blob the index lacks means
 * damage that prune must not paper over.
 */
async function countUsedBytes(index: IndexDb, used: BlobIdSet, usage: Map<Id, PackUsage>): Promise<void> {
  const usedIds = used.ids();
  let next = await usedIds.next();
  const unindexed: Id[] = [];
  let unindexedCount = 0;
  for await (const [id, location] of index.blobs()) {
    while (!next.done && next.value < id) {
      unindexedCount++;
      if (unindexed.length < 3) unindexed.push(next.value);
      next = await usedIds.next();
    }
    if (next.done || next.value !== id) continue;
    const pack = usage.get(location.packId);
    if (!pack) throw new IntegrityError(`the index database locates blob ${shortId(id)} in pack ${shortId(location.packId)}, which it does not list; run cairn repair index`);
    pack.usedBlobs++;
    pack.usedBytes += location.storedLength;
    next = await usedIds.next();
  }
  for (; !next.done; next = await usedIds.next()) {
    unindexedCount++;
    if (unindexed.length < 3) unindexed.push(next.value);
  }
  if (unindexedCount > 0) {
    throw new IntegrityError(
      `${unindexedCount} blob(s) that snapshots need are in no index (${unindexed.map(shortId).join(", ")}); nothing was deleted — run cairn check`,
    );
  }
}

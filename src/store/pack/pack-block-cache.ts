import type { Backend } from "../backend/backend.js";
import type { Id } from "../id.js";
import { packKey } from "./pack-format.js";

/** Tree blobs are a few KiB and neighbours in a pack are read close together: read in blocks. */
const BLOCK_BYTES = 1024 * 1024;
const MAX_BLOCKS = 32;

/**
 * Reads byte ranges of packs through a small cache of aligned blocks, so a walk over a
 * snapshot's trees costs one read per block instead of three system calls per tree.
 * Packs never change once written, so a cached block is never stale.
 */
export class PackBlockCache {
  private readonly blocks = new Map<string, Promise<Buffer>>();
  private readonly packSizes = new Map<Id, number | undefined>();

  /** `packSize` tells a pack's size from the index (undefined when it is not indexed). */
  constructor(
    private readonly backend: Backend,
    private readonly packSize: (packId: Id) => number | undefined,
  ) {}

  async read(packId: Id, offset: number, length: number): Promise<Buffer> {
    const exact = () => this.backend.get(packKey(packId), { offset, length });
    if (!this.packSizes.has(packId)) this.packSizes.set(packId, this.packSize(packId));
    const packSize = this.packSizes.get(packId);
    const first = Math.floor(offset / BLOCK_BYTES);
    const last = Math.floor((offset + length - 1) / BLOCK_BYTES);
    if (packSize === undefined || offset + length > packSize || last - first + 1 > MAX_BLOCKS / 2) return exact();
    const parts: Buffer[] = [];
    try {
      for (let block = first; block <= last; block++) parts.push(await this.block(packId, packSize, block));
    } catch {
      // A pack cut short (damage) may still hold this range: the exact read says which.
      return exact();
    }
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const start = offset - first * BLOCK_BYTES;
    return joined.subarray(start, start + length);
  }

  private block(packId: Id, packSize: number, block: number): Promise<Buffer> {
    const key = `${packId}:${block}`;
    let loading = this.blocks.get(key);
    if (loading) {
      // Most recently used last, so the oldest is the first in the map.
      this.blocks.delete(key);
    } else {
      const offset = block * BLOCK_BYTES;
      loading = this.backend.get(packKey(packId), { offset, length: Math.min(BLOCK_BYTES, packSize - offset) });
      // A failed read is not cached: the next attempt reads again.
      loading.catch(() => this.blocks.delete(key));
      if (this.blocks.size >= MAX_BLOCKS) this.blocks.delete(this.blocks.keys().next().value as string);
    }
    this.blocks.set(key, loading);
    return loading;
  }
}

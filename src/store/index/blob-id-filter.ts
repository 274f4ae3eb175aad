import type { Id } from "../id.js";

/** Bits per id: with PROBES probes, about 1% of ids never added are taken for added. */
const BITS_PER_ID = 10;
const PROBES = 7;

/**
 * A Bloom filter of blob ids: "maybe added" or "surely not". Ids are SHA-256 digests, uniformly
 * spread already, so the probes are taken from the id's own bits rather than hashed again.
 */
export class BlobIdFilter {
  private readonly bits: Uint32Array;
  private readonly size: number;

  /** Sized for `capacity` ids; more still work, with more false "maybe" answers. */
  constructor(capacity: number) {
    this.size = Math.max(64, Math.ceil(capacity * BITS_PER_ID / 32) * 32);
    this.bits = new Uint32Array(this.size / 32);
  }

  add(id: Id): void {
    const h1 = parseInt(id.slice(0, 8), 16);
    const h2 = (parseInt(id.slice(8, 16), 16) | 1) >>> 0;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % this.size;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mightHold(id: Id): boolean {
    const h1 = parseInt(id.slice(0, 8), 16);
    const h2 = (parseInt(id.slice(8, 16), 16) | 1) >>> 0;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % this.size;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

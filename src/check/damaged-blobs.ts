import type { Id } from "../store/id.js";

/**
 * Blob copies known to be unreadable, with why. Keyed by blob and pack: a blob stored twice is
 * only lost if the copy the index points to is damaged.
 */
export class DamagedBlobs {
  private readonly copies = new Map<Id, Map<Id, string>>();

  add(blob: Id, pack: Id, reason: string): void {
    let packs = this.copies.get(blob);
    if (!packs) {
      packs = new Map();
      this.copies.set(blob, packs);
    }
    if (!packs.has(pack)) packs.set(pack, reason);
  }

  /** Why the copy of `blob` in `pack` is unreadable, or undefined when it is not known to be. */
  reason(blob: Id, pack: Id): string | undefined {
    return this.copies.get(blob)?.get(pack);
  }

  get size(): number {
    return this.copies.size;
  }
}

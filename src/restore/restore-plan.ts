import type { Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/** A file to write: where it goes and what it holds. */
export interface FileTarget {
  path: Buffer;
  display: string;
  node: TreeNode;
  /** Blobs not yet written; when it reaches zero the file is complete. */
  pending: number;
  /** Set once the file exists at its final size; later writes open it without truncating. */
  created?: boolean;
  damaged: boolean;
}

export interface BlobUse {
  file: FileTarget;
  offset: number;
}

export interface PlannedBlob {
  id: Id;
  location: BlobLocation;
  uses: BlobUse[];
}

/** Blob reads grouped by pack, so each pack is read once. */
export class RestorePlan {
  readonly packs = new Map<Id, Map<Id, PlannedBlob>>();

  add(id: Id, location: BlobLocation, use: BlobUse): void {
    let blobs = this.packs.get(location.packId);
    if (!blobs) {
      blobs = new Map();
      this.packs.set(location.packId, blobs);
    }
    let blob = blobs.get(id);
    if (!blob) {
      blob = { id, location, uses: [] };
      blobs.set(id, blob);
    }
    blob.uses.push(use);
  }
}

/**
 * Byte ranges of a pack worth reading in one request: blobs closer than `gap` are merged, as
 * long as the range stays within `maxLength` (a single larger blob is a range of its own).
 */
export function readRanges(blobs: readonly PlannedBlob[], gap: number, maxLength: number): { offset: number; length: number; blobs: PlannedBlob[] }[] {
  const sorted = [...blobs].sort((a, b) => a.location.offset - b.location.offset);
  const ranges: { offset: number; length: number; blobs: PlannedBlob[] }[] = [];
  for (const blob of sorted) {
    const last = ranges[ranges.length - 1];
    const end = blob.location.offset + blob.location.storedLength;
    if (last && blob.location.offset - (last.offset + last.length) <= gap && end - last.offset <= maxLength) {
      last.length = Math.max(last.length, end - last.offset);
      last.blobs.push(blob);
    } else {
      ranges.push({ offset: blob.location.offset, length: blob.location.storedLength, blobs: [blob] });
    }
  }
  return ranges;
}

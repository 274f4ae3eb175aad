import type { Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import type { RestoredMetadata } from "./restored-metadata.js";

/**
 * A file to write: where it goes and what it holds. Only what the restore still needs of the
 * tree node is kept: a restore plans every file of a snapshot before it writes one.
 */
export interface FileTarget {
  path: Buffer;
  /**
   * Where the file is written when something stands at `path` (an older version, say): it takes
   * that place only once whole, so a restore that fails, or a blob that cannot be read, leaves
   * what was there as it was.
   */
  temporary?: Buffer;
  display: string;
  size: number;
  /** The blob ids, kept only when the restored file is to be read back and verified. */
  content?: Id[];
  /** Owner, mode, times and extended attributes, set after the file's last write. */
  metadata: RestoredMetadata;
  /** Bytes of it written so far (counted in the restore's total). */
  bytesWritten: number;
  /** Blobs not yet written; when it reaches zero the file is complete. */
  pending: number;
  /** Writes not yet queued (at least one: an empty file is created by one); the last carries the metadata. */
  unqueued: number;
  /** Set once the file exists at its final size; later writes open it without truncating. */
  created?: boolean;
  /** A blob failed: the metadata waits until the blob is written from another copy, or cannot be. */
  metadataHeld?: boolean;
  damaged: boolean;
}

export interface BlobUse {
  file: FileTarget;
  offset: number;
}

/** Where in its pack a blob is, and how it is stored (the pack is the plan's key). */
export type BlobPlace = Pick<BlobLocation, "offset" | "storedLength" | "plainLength" | "compression">;

export interface PlannedBlob {
  id: Id;
  location: BlobPlace;
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
      const { offset, storedLength, plainLength, compression } = location;
      blob = { id, location: { offset, storedLength, plainLength, compression }, uses: [] };
      blobs.set(id, blob);
    }
    blob.uses.push(use);
  }
}

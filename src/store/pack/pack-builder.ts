import { createHash } from "node:crypto";
import type { BlobType } from "../blob-type.js";
import type { EncodedBlob } from "../blob-codec.js";
import type { Id } from "../id.js";
import { encodeTrailer, type PackEntry } from "./pack-format.js";

export interface FinishedPack {
  id: Id;
  type: BlobType;
  /** The pack's bytes: the start of `memory`. */
  bytes: Buffer;
  /** The buffer the pack was built in, for the next builder once the pack is written. */
  memory: Buffer;
  entries: PackEntry[];
}

export interface PackBuilderOptions {
  /** Memory to build in (a finished pack's, once written): grown when too small. */
  memory?: Buffer;
  /** The size the pack is expected to reach: the first growth goes straight to it. */
  expectedSize?: number;
}

const FIRST_CAPACITY = 64 * 1024;

/**
 * Collects encoded blobs of one type until the pack is big enough to write. Blobs are copied
 * into one buffer as they come, so the pack is never assembled from its parts at the end (which
 * held it twice), and that buffer can serve the next pack.
 */
export class PackBuilder {
  private readonly entries: PackEntry[] = [];
  private memory: Buffer;
  private size = 0;
  private readonly expectedSize: number;

  constructor(
    readonly type: BlobType,
    options: PackBuilderOptions = {},
  ) {
    this.memory = options.memory ?? Buffer.alloc(0);
    this.expectedSize = options.expectedSize ?? 0;
  }

  get byteLength(): number {
    return this.size;
  }

  get blobCount(): number {
    return this.entries.length;
  }

  add(id: Id, plainLength: number, blob: EncodedBlob): void {
    this.entries.push({
      id,
      type: this.type,
      offset: this.size,
      storedLength: blob.stored.length,
      plainLength,
      compression: blob.compression,
    });
    this.append(blob.stored);
  }

  finish(): FinishedPack {
    this.append(encodeTrailer(this.entries));
    const bytes = this.memory.subarray(0, this.size);
    const id = createHash("sha256").update(bytes).digest("hex");
    return { id, type: this.type, bytes, memory: this.memory, entries: this.entries };
  }

  private append(data: Uint8Array): void {
    const needed = this.size + data.length;
    if (needed > this.memory.length) {
      // Memory never written to costs nothing resident, so the expected size is taken at once.
      const capacity = this.memory.length < this.expectedSize ? this.expectedSize : Math.max(FIRST_CAPACITY, 2 * this.memory.length);
      const larger = Buffer.allocUnsafe(Math.max(needed, capacity));
      this.memory.copy(larger, 0, 0, this.size);
      this.memory = larger;
    }
    this.memory.set(data, this.size);
    this.size = needed;
  }
}

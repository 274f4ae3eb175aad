import { createHash } from "node:crypto";
import type { BlobType } from "../blob-type.js";
import type { EncodedBlob } from "../blob-codec.js";
import type { Id } from "../id.js";
import { encodeTrailer, type PackEntry } from "./pack-format.js";

export interface FinishedPack {
  id: Id;
  type: BlobType;
  bytes: Buffer;
  entries: PackEntry[];
}

/** Collects encoded blobs of one type until the pack is big enough to write. */
export class PackBuilder {
  private readonly parts: Uint8Array[] = [];
  private readonly entries: PackEntry[] = [];
  private size = 0;

  constructor(readonly type: BlobType) {}

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
    this.parts.push(blob.stored);
    this.size += blob.stored.length;
  }

  finish(): FinishedPack {
    this.parts.push(encodeTrailer(this.entries));
    const bytes = Buffer.concat(this.parts);
    const id = createHash("sha256").update(bytes).digest("hex");
    return { id, type: this.type, bytes, entries: this.entries };
  }
}

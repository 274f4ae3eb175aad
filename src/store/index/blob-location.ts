import type { BlobType } from "../blob-type.js";
import type { Id } from "../id.js";

/** Where a blob lives: its pack and its byte range there. */
export interface BlobLocation {
  packId: Id;
  type: BlobType;
  offset: number;
  storedLength: number;
  plainLength: number;
  compression: number;
}

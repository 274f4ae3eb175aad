import { IntegrityError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { decodeBlob } from "../store/blob-codec.js";
import { hashBytes, shortId, type Id } from "../store/id.js";
import { packKey, type PackEntry } from "../store/pack/pack-format.js";

export interface PackVerification {
  /** The SHA-256 of the pack's bytes is its name. */
  hashMatches: boolean;
  bytesRead: number;
  /** Index entries whose stored bytes do not decode to their id, with why. */
  damaged: { entry: PackEntry; reason: string }[];
}

/**
 * Reads a pack once and verifies it the way a restore would use it: the pack's hash against its
 * name, and every blob the index places in it decompressed (into a buffer of the declared size
 * only) and hashed against its id.
 */
export async function verifyPack(backend: Backend, packId: Id, entries: readonly PackEntry[]): Promise<PackVerification> {
  const bytes = await backend.get(packKey(packId));
  const damaged: PackVerification["damaged"] = [];
  for (const entry of entries) {
    if (entry.offset + entry.storedLength > bytes.length) {
      damaged.push({ entry, reason: `is cut off: pack ${shortId(packId)} is truncated` });
      continue;
    }
    try {
      decodeBlob(entry.id, bytes.subarray(entry.offset, entry.offset + entry.storedLength), entry.compression, entry.plainLength);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      damaged.push({ entry, reason: `fails verification in pack ${shortId(packId)} (${err.message.replace(/^blob [0-9a-f]+: /, "")})` });
    }
  }
  return { hashMatches: hashBytes(bytes) === packId, bytesRead: bytes.length, damaged };
}

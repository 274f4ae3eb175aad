import { IntegrityError } from "../../errors.js";
import { blobTypeCode, blobTypeFromCode, type BlobType } from "../blob-type.js";
import { ID_BYTES, type Id } from "../id.js";

/**
 * Pack layout: blob || blob || … || trailer || trailer length (u32 LE) || magic.
 * Each trailer entry: type u8, compression u8, stored length u32 LE, plaintext length u32 LE,
 * blob id (32 bytes). Offsets are implicit: blobs are laid out back to back from byte 0.
 */
export const PACK_MAGIC = Buffer.from("CAIRNPK1", "ascii");
export const TRAILER_ENTRY_BYTES = 2 + 4 + 4 + ID_BYTES;
export const PACK_FOOTER_BYTES = 4 + PACK_MAGIC.length;

/** Upper bound on one blob's plaintext, so damaged or hostile lengths cannot force huge allocations. */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

export interface PackEntry {
  id: Id;
  type: BlobType;
  offset: number;
  storedLength: number;
  plainLength: number;
  compression: number;
}

export function encodeTrailer(entries: readonly PackEntry[]): Buffer {
  const trailer = Buffer.alloc(entries.length * TRAILER_ENTRY_BYTES + PACK_FOOTER_BYTES);
  let at = 0;
  for (const entry of entries) {
    trailer.writeUInt8(blobTypeCode(entry.type), at);
    trailer.writeUInt8(entry.compression, at + 1);
    trailer.writeUInt32LE(entry.storedLength, at + 2);
    trailer.writeUInt32LE(entry.plainLength, at + 6);
    trailer.write(entry.id, at + 10, ID_BYTES, "hex");
    at += TRAILER_ENTRY_BYTES;
  }
  trailer.writeUInt32LE(entries.length * TRAILER_ENTRY_BYTES, at);
  PACK_MAGIC.copy(trailer, at + 4);
  return trailer;
}

/** Reads the footer of a pack: the trailer's length, after checking the magic. */
export function parseFooter(packId: string, footer: Buffer, packSize: number): number {
  if (footer.length !== PACK_FOOTER_BYTES || !footer.subarray(4).equals(PACK_MAGIC)) {
    throw new IntegrityError(`pack ${packId}: bad magic (not a cairn pack or truncated)`);
  }
  const trailerLength = footer.readUInt32LE(0);
  if (trailerLength % TRAILER_ENTRY_BYTES !== 0 || trailerLength + PACK_FOOTER_BYTES > packSize) {
    throw new IntegrityError(`pack ${packId}: trailer length ${trailerLength} is impossible for a pack of ${packSize} bytes`);
  }
  return trailerLength;
}

/** Decodes trailer entries and checks that they tile the pack exactly. */
export function parseTrailer(packId: string, trailer: Buffer, packSize: number): PackEntry[] {
  const entries: PackEntry[] = [];
  const dataEnd = packSize - trailer.length - PACK_FOOTER_BYTES;
  let offset = 0;
  for (let at = 0; at < trailer.length; at += TRAILER_ENTRY_BYTES) {
    const type = blobTypeFromCode(trailer.readUInt8(at));
    const compression = trailer.readUInt8(at + 1);
    const storedLength = trailer.readUInt32LE(at + 2);
    const plainLength = trailer.readUInt32LE(at + 6);
    const id = trailer.toString("hex", at + 10, at + 10 + ID_BYTES);
    if (!type) throw new IntegrityError(`pack ${packId}: entry ${at / TRAILER_ENTRY_BYTES} has an unknown blob type`);
    if (plainLength > MAX_BLOB_BYTES || storedLength > MAX_BLOB_BYTES) {
      throw new IntegrityError(`pack ${packId}: blob ${id} declares an absurd length`);
    }
    entries.push({ id, type, offset, storedLength, plainLength, compression });
    offset += storedLength;
  }
  if (offset !== dataEnd) {
    throw new IntegrityError(`pack ${packId}: trailer describes ${offset} bytes of blobs, pack holds ${dataEnd}`);
  }
  return entries;
}

export function packKey(packId: Id): string {
  return `data/${packId.slice(0, 2)}/${packId}`;
}

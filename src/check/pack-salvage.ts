import binding from "zstd-napi/binding.js";
import { IntegrityError } from "../errors.js";
import { decodeBlob } from "../store/blob-codec.js";
import { blobTypeFromCode, type BlobType } from "../store/blob-type.js";
import { hashBytes, type Id } from "../store/id.js";
import { MAX_BLOB_BYTES, PACK_FOOTER_BYTES, PACK_MAGIC, TRAILER_ENTRY_BYTES, type PackEntry } from "../store/pack/pack-format.js";
import { parseTree } from "../store/tree/tree-codec.js";

/** A blob recovered from a damaged pack, verified: its id is the hash of `plain`. */
export interface SalvagedBlob {
  id: Id;
  type: BlobType;
  plain: Buffer;
  offset: number;
}

export interface SalvageResult {
  blobs: SalvagedBlob[];
  /** Byte ranges no verified blob accounts for (damaged blobs, and whatever is left of the trailer). */
  lost: { offset: number; length: number }[];
  /** What should have been there: the blobs the hints name, or without hints the surviving trailer's. */
  expected: Set<Id>;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * The trailer read without trusting it: whatever entries its footer claims, offsets laid out
 * back to back. Returns where the blob area ends too (the whole pack when the footer is gone).
 */
function looseTrailer(bytes: Buffer): { entries: PackEntry[]; dataEnd: number } {
  const footerAt = bytes.length - PACK_FOOTER_BYTES;
  if (footerAt < 0 || !bytes.subarray(footerAt + 4).equals(PACK_MAGIC)) return { entries: [], dataEnd: bytes.length };
  const length = bytes.readUInt32LE(footerAt);
  if (length % TRAILER_ENTRY_BYTES !== 0 || length > footerAt) return { entries: [], dataEnd: bytes.length };
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let at = footerAt - length; at < footerAt; at += TRAILER_ENTRY_BYTES) {
    const type = blobTypeFromCode(bytes.readUInt8(at)) ?? "data";
    const storedLength = bytes.readUInt32LE(at + 2);
    entries.push({ type, compression: bytes.readUInt8(at + 1), storedLength, plainLength: bytes.readUInt32LE(at + 6), id: bytes.toString("hex", at + 10, at + 42), offset });
    offset += storedLength;
  }
  return { entries, dataEnd: footerAt - length };
}

/** A zstd frame starting at `offset`, decompressed within the declared bound, or undefined. */
function zstdFrameAt(bytes: Buffer, offset: number, end: number): { plain: Buffer; storedLength: number } | undefined {
  if (!bytes.subarray(offset, offset + 4).equals(ZSTD_MAGIC)) return undefined;
  try {
    const storedLength = binding.findFrameCompressedSize(bytes.subarray(offset, end));
    const frame = bytes.subarray(offset, offset + storedLength);
    const size = binding.getFrameContentSize(frame);
    if (size === null || size > MAX_BLOB_BYTES) return undefined;
    const plain = Buffer.allocUnsafe(size);
    if (new binding.DCtx().decompress(plain, frame) !== size) return undefined;
    return { plain, storedLength };
  } catch {
    return undefined;
  }
}

/**
 * Recovers what can be recovered from a pack whose trailer or blobs are damaged, scanning from
 * offset 0. At each position it tries, in order: the blobs that the (possibly damaged) trailer
 * or an index file place there, decoded and checked against their ids; then a zstd frame,
 * which is self-delimiting and whose hash names it. When neither fits, it skips to the next
 * position where one might. So: every compressed blob whose bytes are intact is recovered,
 * and every stored-raw blob whose bytes are intact and whose entry survives somewhere; blobs
 * with damaged bytes are lost.
 */
export function salvagePack(bytes: Buffer, hints: readonly PackEntry[], packType?: BlobType): SalvageResult {
  const trailer = looseTrailer(bytes);
  const end = trailer.dataEnd;
  const byOffset = new Map<number, PackEntry[]>();
  for (const hint of [...hints, ...trailer.entries]) {
    if (hint.offset + hint.storedLength > end || hint.plainLength > MAX_BLOB_BYTES) continue;
    if (!byOffset.has(hint.offset)) byOffset.set(hint.offset, []);
    byOffset.get(hint.offset)!.push(hint);
  }
  const hintOffsets = [...byOffset.keys()].sort((a, b) => a - b);
  const found: { id: Id; type?: BlobType; plain: Buffer; offset: number }[] = [];
  const lost: SalvageResult["lost"] = [];
  let pos = 0;
  while (pos < end) {
    const blob = hintedBlobAt(bytes, pos, byOffset.get(pos) ?? []) ?? unhintedBlobAt(bytes, pos, end);
    if (blob) {
      found.push({ ...blob, offset: pos });
      pos += blob.storedLength;
      continue;
    }
    const nextHint = hintOffsets.find((o) => o > pos) ?? end;
    const nextFrame = bytes.indexOf(ZSTD_MAGIC, pos + 1);
    const next = Math.min(nextHint, nextFrame === -1 || nextFrame > end ? end : nextFrame);
    lost.push({ offset: pos, length: next - pos });
    pos = next;
  }
  const type = packType ?? found.find((b) => b.type)?.type ?? (found.length > 0 && found.every((b) => parsesAsTree(b.id, b.plain)) ? "tree" : "data");
  // The index's entries when it knew the pack: a damaged trailer may name blobs that never were.
  const expected = new Set((hints.length > 0 ? hints : trailer.entries).map((e) => e.id));
  return { blobs: found.map((b) => ({ id: b.id, type, plain: b.plain, offset: b.offset })), lost, expected };
}

function hintedBlobAt(bytes: Buffer, pos: number, hints: readonly PackEntry[]): { id: Id; type: BlobType; plain: Buffer; storedLength: number } | undefined {
  for (const hint of hints) {
    try {
      const plain = decodeBlob(hint.id, bytes.subarray(pos, pos + hint.storedLength), hint.compression, hint.plainLength);
      return { id: hint.id, type: hint.type, plain: Buffer.from(plain), storedLength: hint.storedLength };
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
    }
  }
  return undefined;
}

function unhintedBlobAt(bytes: Buffer, pos: number, end: number): { id: Id; plain: Buffer; storedLength: number } | undefined {
  const frame = zstdFrameAt(bytes, pos, end);
  return frame && { id: hashBytes(frame.plain), plain: frame.plain, storedLength: frame.storedLength };
}

function parsesAsTree(id: Id, plain: Buffer): boolean {
  try {
    parseTree(id, plain);
    return true;
  } catch {
    return false;
  }
}

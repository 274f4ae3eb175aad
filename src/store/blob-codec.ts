import binding from "zstd-napi/binding.js";
import { IntegrityError } from "../errors.js";
import { blobMismatch } from "./blob-verification.js";
import type { Id } from "./id.js";
import { MAX_BLOB_BYTES } from "./pack/pack-format.js";

/** How a blob's bytes are stored in its pack. */
export const Compression = { none: 0, zstd: 1 } as const;
export type CompressionCode = (typeof Compression)[keyof typeof Compression];

export interface EncodedBlob {
  stored: Uint8Array;
  compression: CompressionCode;
}

let compressionContext: InstanceType<typeof binding.CCtx> | undefined;
/** Compression output, reused: the result is copied out, and a fresh bound-sized buffer per blob is garbage that piles up faster than it is collected. */
let compressionScratch: Buffer | undefined;
let decompressionContext: InstanceType<typeof binding.DCtx> | undefined;

/** Compresses with zstd; keeps the plaintext when compression would not make it smaller. */
export function encodeBlob(plain: Uint8Array, level: number): EncodedBlob {
  if (level <= 0 || plain.length === 0) return { stored: plain, compression: Compression.none };
  compressionContext ??= new binding.CCtx();
  const bound = binding.compressBound(plain.length);
  if (!compressionScratch || compressionScratch.length < bound) compressionScratch = Buffer.allocUnsafe(bound);
  const out = compressionScratch;
  const size = compressionContext.compress(out, plain, level);
  if (size >= plain.length) return { stored: plain, compression: Compression.none };
  // Memory of its own, not a slice of Node's shared pool: posted to another thread, a pooled
  // buffer would carry its whole 8 KiB slab along.
  const stored = Buffer.allocUnsafeSlow(size);
  out.copy(stored, 0, 0, size);
  return { stored, compression: Compression.zstd };
}

/** Blobs up to this size are decoded into one buffer reused by decodeBlobTransient; larger ones get their own. */
const DECODE_SCRATCH_LIMIT = 4 * 1024 * 1024;
let decodeScratch: Buffer | undefined;

/**
 * Decodes a stored blob and checks it against its id. Decompression writes into a buffer of the
 * declared plaintext length, so a hostile frame cannot make us allocate more than that.
 */
export function decodeBlob(id: Id, stored: Uint8Array, compression: number, plainLength: number): Buffer {
  return decodeInto(id, stored, compression, plainLength, Buffer.allocUnsafe);
}

/**
 * decodeBlob for callers that use the plaintext at once (verify it, write it out): the result
 * may be a buffer this thread reuses, valid only until the next call. Decoding a whole
 * repository into fresh buffers leaves garbage faster than the collector frees it.
 */
export function decodeBlobTransient(id: Id, stored: Uint8Array, compression: number, plainLength: number): Buffer {
  return decodeInto(id, stored, compression, plainLength, (length) => {
    if (length > DECODE_SCRATCH_LIMIT) return Buffer.allocUnsafe(length);
    if (!decodeScratch || decodeScratch.length < length) decodeScratch = Buffer.allocUnsafe(Math.max(length, 256 * 1024));
    return decodeScratch.subarray(0, length);
  });
}

/**
 * decodeBlob into `target` (exactly `plainLength` bytes, the caller's memory): a restore decodes
 * straight into the memory it hands to its writer thread. With `verify` false the bytes are NOT
 * checked against the id: the writer then checks them before writing (the hashing is then off
 * the thread that walks, reads and decompresses), and nothing may use them before that.
 */
export function decodeBlobInto(id: Id, stored: Uint8Array, compression: number, plainLength: number, target: Buffer, verify: boolean): void {
  const plain = decodeInto(id, stored, compression, plainLength, () => target, verify);
  if (plain !== target) plain.copy(target);
}

function decodeInto(id: Id, stored: Uint8Array, compression: number, plainLength: number, output: (length: number) => Buffer, verify = true): Buffer {
  if (plainLength > MAX_BLOB_BYTES) throw new IntegrityError(`blob ${id}: declared length ${plainLength} is absurd`);
  let plain: Buffer;
  if (compression === Compression.none) {
    plain = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  } else if (compression === Compression.zstd) {
    decompressionContext ??= new binding.DCtx();
    plain = output(plainLength);
    let size: number;
    try {
      size = decompressionContext.decompress(plain, stored);
    } catch (err) {
      throw new IntegrityError(`blob ${id}: cannot decompress: ${(err as Error).message}`);
    }
    if (size !== plainLength) {
      throw new IntegrityError(`blob ${id}: decompressed to ${size} bytes, expected ${plainLength}`);
    }
  } else {
    throw new IntegrityError(`blob ${id}: unknown compression ${compression}`);
  }
  if (plain.length !== plainLength) {
    throw new IntegrityError(`blob ${id}: ${plain.length} bytes, expected ${plainLength}`);
  }
  const mismatch = verify ? blobMismatch(id, plain) : undefined;
  if (mismatch) throw new IntegrityError(mismatch);
  return plain;
}

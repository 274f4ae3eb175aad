import binding from "zstd-napi/binding.js";
import { IntegrityError } from "../errors.js";

/** Index files are zstd-compressed JSON; a declared size above this is treated as damage. */
const MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024;

export function compressDocument(json: Uint8Array): Buffer {
  const ctx = new binding.CCtx();
  const out = Buffer.allocUnsafe(binding.compressBound(json.length));
  const size = ctx.compress(out, json, 3);
  return Buffer.from(out.subarray(0, size));
}

export function decompressDocument(name: string, stored: Buffer): Buffer {
  let size: number | null;
  try {
    size = binding.getFrameContentSize(stored);
  } catch {
    throw new IntegrityError(`${name}: not a zstd frame`);
  }
  if (size === null || size > MAX_DOCUMENT_BYTES) throw new IntegrityError(`${name}: missing or absurd content size`);
  const out = Buffer.allocUnsafe(size);
  try {
    const written = new binding.DCtx().decompress(out, stored);
    if (written !== size) throw new Error(`decompressed ${written} of ${size} bytes`);
  } catch (err) {
    throw new IntegrityError(`${name}: cannot decompress: ${(err as Error).message}`);
  }
  return out;
}

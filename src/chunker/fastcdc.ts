import { get_chunks } from "fastcdc-wasm";
import { validateChunkerParams, type ChunkerParams } from "./chunker-params.js";

/**
 * Largest buffer handed to the wasm: it copies the buffer into its own memory, never shrinks that
 * memory again, and returns garbage from 2 GiB on.
 */
export const MAX_CDC_BUFFER = 64 * 1024 * 1024;

/**
 * End offsets of the FastCDC chunks of `buffer`; the last one is always `buffer.length` (the wasm
 * cuts at the end of whatever it is given). Empty for an empty buffer.
 *
 * The wasm takes the buffer as `&mut [u8]` and copies it back afterwards: the bytes do not change,
 * but it writes to them, so pass only memory the chunker owns.
 */
export function cutPoints(buffer: Uint8Array, params: ChunkerParams): Uint32Array {
  if (buffer.length > MAX_CDC_BUFFER) {
    throw new RangeError(`chunker buffer of ${buffer.length} bytes exceeds the ${MAX_CDC_BUFFER}-byte cap`);
  }
  // Checked on every call: a bad value would panic the wasm, which stops working after a few
  // thousand panics.
  const { minSize, avgSize, maxSize } = validateChunkerParams(params);
  // The wasm returns every chunk's start offset followed by buffer.length; drop the leading 0.
  return get_chunks(buffer, minSize, avgSize, maxSize).subarray(1);
}

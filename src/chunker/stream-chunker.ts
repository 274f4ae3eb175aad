import { validateChunkerParams, type ChunkerParams } from "./chunker-params.js";
import { cutPoints, MAX_CDC_BUFFER } from "./fastcdc.js";

const MIN_WINDOW = 8 * 1024 * 1024;
/** First allocation: small inputs (most files) never pay for the whole window. */
const INITIAL_BUFFER = 64 * 1024;

/**
 * Splits a byte stream into content-defined chunks. The boundaries depend only on the bytes, never
 * on how the source splits its reads, and equal those of one FastCDC pass over the whole input.
 *
 * Every chunk is a fresh copy that owns its whole ArrayBuffer: consumers may keep it as long as
 * they like, or transfer it to a worker thread. Only the last chunk may be shorter than minSize.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  params: ChunkerParams,
): AsyncGenerator<Uint8Array> {
  const p = validateChunkerParams(params);
  // FastCDC decides a cut from the bytes after the chunk start alone, so every chunk of a window
  // but the last is final. The last may have been cut only because the window ended, so it is
  // carried to the front and chunked again with what follows, unless it is maxSize long: a cut at
  // maxSize is final whatever follows (so featureless data, zeros above all, is scanned once).
  // The window is at least 2 x maxSize (validation caps maxSize at 16 MiB), so a full window
  // always holds 2+ chunks.
  const windowSize = Math.min(Math.max(2 * p.maxSize, MIN_WINDOW), MAX_CDC_BUFFER);
  // The buffer grows geometrically up to windowSize as input arrives; cuts happen only when
  // windowSize bytes are held, so boundaries do not depend on the buffer's growth.
  let window = new Uint8Array(0);
  let filled = 0;
  for await (const read of source) {
    for (let taken = 0; taken < read.length; ) {
      if (filled === window.length) window = grow(window, filled, read.length - taken, windowSize);
      const n = Math.min(window.length - filled, read.length - taken);
      window.set(read.subarray(taken, taken + n), filled);
      filled += n;
      taken += n;
      if (filled < windowSize) continue;
      const ends = cutPoints(window, p);
      const last = ends.length - 1; // there are always 2+ chunks: see above
      const lastIsFinal = ends[last]! - ends[last - 1]! === p.maxSize;
      const carryStart = lastIsFinal ? filled : ends[last - 1]!;
      yield* copyChunks(window, lastIsFinal ? ends : ends.subarray(0, last));
      window.copyWithin(0, carryStart, filled);
      filled -= carryStart;
    }
  }
  yield* copyChunks(window, cutPoints(window.subarray(0, filled), p));
}

/** A larger buffer holding the first `filled` bytes of `buffer`: room for `wanted` more, at least double, at most `limit`. */
function grow(buffer: Uint8Array, filled: number, wanted: number, limit: number): Uint8Array<ArrayBuffer> {
  const size = Math.min(limit, Math.max(INITIAL_BUFFER, 2 * buffer.length, filled + wanted));
  const bigger = new Uint8Array(size);
  bigger.set(buffer.subarray(0, filled));
  return bigger;
}

function* copyChunks(window: Uint8Array, ends: Uint32Array): Generator<Uint8Array> {
  let start = 0;
  for (const end of ends) {
    yield window.slice(start, end);
    start = end;
  }
}

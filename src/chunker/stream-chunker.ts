import { validateChunkerParams, type ChunkerParams } from "./chunker-params.js";
import { MAX_CDC_BUFFER, WasmChunkBuffer } from "./fastcdc.js";

const MIN_WINDOW = 2 * 1024 * 1024;

/** The most bytes a ChunkWindow holds. */
export function chunkWindowBytes(params: ChunkerParams): number {
  return Math.min(Math.max(2 * params.maxSize, MIN_WINDOW), MAX_CDC_BUFFER);
}

/** Memory for one chunk of `length` bytes. */
export type ChunkAllocator = (length: number) => Uint8Array<ArrayBuffer>;

/**
 * Splits a byte stream fed piece by piece into content-defined chunks. The boundaries depend only
 * on the bytes, never on how the input is split, and equal those of one FastCDC pass over it all.
 *
 * Every chunk is a copy, into memory from `allocate`: by default a fresh buffer that owns its
 * whole ArrayBuffer, which consumers may keep as long as they like or transfer to another thread.
 * Only the last chunk may be shorter than minSize.
 *
 * The window lives in the chunker's wasm memory, taken at the first `push` or `fill` (memory
 * never written costs nothing resident, so small inputs do not pay for the whole window), and
 * given back by `dispose`.
 */
export class ChunkWindow {
  private readonly params: ChunkerParams;
  private readonly windowSize: number;
  private buffer?: WasmChunkBuffer;
  private filled = 0;

  constructor(
    params: ChunkerParams,
    private readonly allocate: ChunkAllocator = (length) => new Uint8Array(length),
  ) {
    this.params = validateChunkerParams(params);
    // FastCDC decides a cut from the bytes after the chunk start alone, so every chunk of a window
    // but the last is final. The last may have been cut only because the window ended, so it is
    // carried to the front and chunked again with what follows, unless it is maxSize long: a cut at
    // maxSize is final whatever follows (so featureless data, zeros above all, is scanned once).
    // The window is at least 2 x maxSize (validation caps maxSize at 16 MiB), so a full window
    // always holds 2+ chunks.
    this.windowSize = chunkWindowBytes(this.params);
  }

  /** Takes the next bytes of the stream (copied: the caller may reuse `bytes`); returns the chunks they complete. */
  push(bytes: Uint8Array): Uint8Array<ArrayBuffer>[] {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    for (let taken = 0; taken < bytes.length; ) {
      const n = Math.min(this.windowSize - this.filled, bytes.length - taken);
      this.window().bytes.set(bytes.subarray(taken, taken + n), this.filled);
      this.filled += n;
      taken += n;
      if (this.filled === this.windowSize) this.cutWindow(chunks);
    }
    return chunks;
  }

  /**
   * Takes the next bytes of the stream from `read`, which puts them straight into the window (a
   * file read, say, which then costs no copy) and says how many: at most `limit`, or the room
   * left. Returns that count and the chunks the bytes complete.
   */
  fill(limit: number, read: (into: Uint8Array) => number): { bytes: number; chunks: Uint8Array<ArrayBuffer>[] } {
    const room = this.window().bytes.subarray(this.filled, Math.min(this.windowSize, this.filled + limit));
    const bytes = read(room);
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > room.length) throw new RangeError(`read ${bytes} bytes into room for ${room.length}`);
    this.filled += bytes;
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    if (this.filled === this.windowSize) this.cutWindow(chunks);
    return { bytes, chunks };
  }

  /** Ends the stream: the chunks of whatever is held. */
  end(): Uint8Array<ArrayBuffer>[] {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    if (this.filled <= this.params.minSize) {
      // No longer than the minimum, the rest is one chunk whatever its bytes: no chunker needed.
      if (this.filled > 0) chunks.push(this.copy(0, this.filled));
    } else {
      this.copyChunks(this.window().cutPoints(this.filled, this.params), chunks);
    }
    this.filled = 0;
    return chunks;
  }

  /** Forgets the bytes held (the stream failed): the window can take a new stream. */
  discard(): void {
    this.filled = 0;
  }

  /** Gives the window's memory back to the chunker; the window can still be used (it takes memory anew). */
  dispose(): void {
    this.buffer?.free();
    this.buffer = undefined;
    this.filled = 0;
  }

  private window(): WasmChunkBuffer {
    this.buffer ??= new WasmChunkBuffer(this.windowSize);
    return this.buffer;
  }

  private cutWindow(chunks: Uint8Array<ArrayBuffer>[]): void {
    const ends = this.window().cutPoints(this.filled, this.params);
    const last = ends.length - 1; // there are always 2+ chunks: see the constructor
    const lastIsFinal = ends[last]! - ends[last - 1]! === this.params.maxSize;
    const carryStart = lastIsFinal ? this.filled : ends[last - 1]!;
    this.copyChunks(lastIsFinal ? ends : ends.subarray(0, last), chunks);
    this.window().bytes.copyWithin(0, carryStart, this.filled);
    this.filled -= carryStart;
  }

  private copyChunks(ends: Uint32Array, into: Uint8Array<ArrayBuffer>[]): void {
    let start = 0;
    for (const end of ends) {
      into.push(this.copy(start, end));
      start = end;
    }
  }

  private copy(start: number, end: number): Uint8Array<ArrayBuffer> {
    const chunk = this.allocate(end - start);
    chunk.set(this.window().bytes.subarray(start, end));
    return chunk;
  }
}

/** Splits a whole byte stream into content-defined chunks (see ChunkWindow). */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  params: ChunkerParams,
): AsyncGenerator<Uint8Array> {
  const window = new ChunkWindow(params);
  try {
    for await (const read of source) yield* window.push(read);
    yield* window.end();
  } finally {
    window.dispose();
  }
}

import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { get_chunks } from "fastcdc-wasm";
import { UsageError } from "../../src/errors.js";
import { chunkStream, DEFAULT_CHUNKER_PARAMS, validateChunkerParams, type ChunkerParams } from "../../src/chunker/index.js";
import { WasmChunkBuffer } from "../../src/chunker/fastcdc.js";
import { ChunkWindow } from "../../src/chunker/stream-chunker.js";
import { pseudoRandomBytes } from "../support/test-data.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL: ChunkerParams = { minSize: 4 * KiB, avgSize: 16 * KiB, maxSize: 64 * KiB };
const TINY: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024 };
/** maxSize 16 MiB makes the stream window hit its 64 MiB cap. */
const HUGE: ChunkerParams = { minSize: 1 * MiB, avgSize: 4 * MiB, maxSize: 16 * MiB };

/** Streams `data` split at `splits` (sorted offsets), reusing one read buffer like fs streams do. */
async function* readsAt(data: Uint8Array, splits: readonly number[]): AsyncGenerator<Uint8Array> {
  const scratch = new Uint8Array(Math.min(data.length, 16 * MiB));
  let start = 0;
  for (const end of [...splits, data.length]) {
    for (let pos = start; pos < end; pos += scratch.length) {
      const n = Math.min(scratch.length, end - pos);
      scratch.set(data.subarray(pos, pos + n));
      yield scratch.subarray(0, n);
    }
    start = end;
  }
}

async function* readsOf(data: Uint8Array, readSize: number): AsyncGenerator<Uint8Array> {
  const scratch = new Uint8Array(readSize);
  for (let pos = 0; pos < data.length; pos += readSize) {
    const n = Math.min(readSize, data.length - pos);
    scratch.set(data.subarray(pos, pos + n));
    yield scratch.subarray(0, n);
  }
}

/** Chunk lengths, checking on the way that the chunks concatenate to `data`. */
async function streamLengths(chunks: AsyncIterable<Uint8Array>, data: Uint8Array): Promise<number[]> {
  const lengths: number[] = [];
  let offset = 0;
  for await (const chunk of chunks) {
    expect(Buffer.from(chunk).equals(data.subarray(offset, offset + chunk.length))).toBe(true);
    offset += chunk.length;
    lengths.push(chunk.length);
  }
  expect(offset).toBe(data.length);
  return lengths;
}

/** One wasm call over the whole input: the ground truth (inputs up to 64 MiB only). */
function referenceLengths(data: Uint8Array, p: ChunkerParams): number[] {
  const starts = Array.from(get_chunks(data, p.minSize, p.avgSize, p.maxSize));
  return starts.slice(1).map((end, i) => end - starts[i]!);
}

/**
 * Ground truth for inputs over 64 MiB: one wasm call per `span` bytes, restarting at the start of
 * the last chunk (which the span's end may have cut). Deliberately not the chunker's window size.
 */
function piecewiseReferenceLengths(data: Uint8Array, p: ChunkerParams, span: number): number[] {
  const lengths: number[] = [];
  let pos = 0;
  while (data.length - pos > span) {
    const piece = referenceLengths(data.subarray(pos, pos + span), p);
    piece.pop();
    lengths.push(...piece);
    pos += piece.reduce((a, b) => a + b, 0);
  }
  lengths.push(...referenceLengths(data.subarray(pos), p));
  return lengths;
}

function expectSizesInBounds(lengths: number[], p: ChunkerParams): void {
  lengths.forEach((length, i) => {
    expect(length).toBeLessThanOrEqual(p.maxSize);
    if (i < lengths.length - 1) expect(length).toBeGreaterThanOrEqual(p.minSize);
  });
}

const BAD_PARAMS: Array<[string, ChunkerParams, RegExp]> = [
  ["minSize below 64", { minSize: 63, avgSize: 256, maxSize: 1024 }, /^chunker minSize must be an integer from 64 bytes to 16 MiB, got 63$/],
  ["avgSize below 256", { minSize: 64, avgSize: 255, maxSize: 1024 }, /^chunker avgSize must be an integer from 256 bytes to 16 MiB, got 255$/],
  ["maxSize below 1 KiB", { minSize: 64, avgSize: 256, maxSize: 1023 }, /^chunker maxSize must be an integer from 1 KiB to 16 MiB, got 1023$/],
  ["maxSize above 16 MiB", { minSize: 64, avgSize: 256, maxSize: 16 * MiB + 1 }, /^chunker maxSize must be .* to 16 MiB, got 16777217$/],
  ["fractional", { minSize: 64.5, avgSize: 256, maxSize: 1024 }, /^chunker minSize must be an integer .* got 64.5$/],
  ["NaN", { minSize: 64, avgSize: Number.NaN, maxSize: 1024 }, /^chunker avgSize must be an integer .* got NaN$/],
  ["negative", { minSize: 64, avgSize: 256, maxSize: -1 }, /^chunker maxSize must be an integer .* got -1$/],
  // The wasm would silently read 2^32 + 64 as 64.
  ["2^32 + 64", { minSize: 2 ** 32 + 64, avgSize: 256, maxSize: 1024 }, /^chunker minSize must be an integer .* got 4294967360$/],
  ["minSize above maxSize", { minSize: 8192, avgSize: 4096, maxSize: 4096 }, /^chunker minSize must be at most maxSize \(4096\), got 8192$/],
  ["avgSize below minSize", { minSize: 4096, avgSize: 2048, maxSize: 8192 }, /^chunker avgSize must be between minSize \(4096\) and maxSize \(8192\), got 2048$/],
  ["avgSize above maxSize", { minSize: 64, avgSize: 4096, maxSize: 2048 }, /^chunker avgSize must be between minSize \(64\) and maxSize \(2048\), got 4096$/],
];

describe("validateChunkerParams", () => {
  it("accepts the defaults and the extreme values, returning a frozen copy", () => {
    for (const p of [DEFAULT_CHUNKER_PARAMS, TINY, { minSize: 16 * MiB, avgSize: 16 * MiB, maxSize: 16 * MiB }]) {
      const checked = validateChunkerParams(p);
      expect(checked).toEqual(p);
      expect(Object.isFrozen(checked)).toBe(true);
    }
  });

  it.each(BAD_PARAMS)("refuses %s with a one-line UsageError", (_name, p, message) => {
    expect(() => validateChunkerParams(p)).toThrow(UsageError);
    expect(() => validateChunkerParams(p)).toThrow(message);
  });

  it("stops bad parameters before they reach the wasm", async () => {
    // The wasm panics on 5 of these (the others it would silently misuse) and breaks for good
    // after ~4700 panics: still working after 2000 rounds proves none of them got through.
    const buffer = new WasmChunkBuffer(5000);
    for (let round = 0; round < 2000; round++) {
      for (const [, p] of BAD_PARAMS) {
        await expect(chunkStream(readsOf(new Uint8Array(5000), 5000), p).next()).rejects.toThrow(UsageError);
        expect(() => buffer.cutPoints(5000, p)).toThrow(UsageError);
      }
    }
    buffer.free();
    expect(Array.from(get_chunks(new Uint8Array(5000), 64, 256, 1024))).toEqual([0, 1024, 2048, 3072, 4096, 5000]);
    const data = pseudoRandomBytes(100 * KiB, 1);
    expect(await streamLengths(chunkStream(readsOf(data, 4096), SMALL), data)).toEqual(referenceLengths(data, SMALL));
  });
});

describe("WasmChunkBuffer", () => {
  it("refuses buffers over 64 MiB, and empty ones", () => {
    expect(() => new WasmChunkBuffer(64 * MiB + 1)).toThrow(RangeError);
    expect(() => new WasmChunkBuffer(0)).toThrow(RangeError);
  });

  it("cuts in place like one get_chunks call, keeps its bytes, and survives the wasm's memory growing", () => {
    const data = pseudoRandomBytes(3 * MiB + 17, 5);
    const buffer = new WasmChunkBuffer(4 * MiB);
    try {
      buffer.bytes.set(data);
      const before = Array.from(buffer.cutPoints(data.length, SMALL));
      const starts = Array.from(get_chunks(data, SMALL.minSize, SMALL.avgSize, SMALL.maxSize));
      expect(before).toEqual(starts.slice(1));
      // A buffer this large makes the wasm grow its memory, which detaches every earlier view.
      const other = new WasmChunkBuffer(48 * MiB);
      other.bytes.fill(1);
      other.free();
      expect(Buffer.from(buffer.bytes.subarray(0, data.length)).equals(data)).toBe(true);
      expect(Array.from(buffer.cutPoints(data.length, SMALL))).toEqual(before);
      expect(() => buffer.cutPoints(4 * MiB + 1, SMALL)).toThrow(RangeError);
      expect(() => buffer.cutPoints(data.length, { ...SMALL, minSize: 1 })).toThrow(UsageError);
    } finally {
      buffer.free();
    }
  });

  it("is freed once, and refuses to be used afterwards: its memory may already be another buffer's", () => {
    const buffer = new WasmChunkBuffer(1 * MiB);
    buffer.free();
    buffer.free();
    // Had the second free reached the wasm's allocator, these two would be handed the same memory.
    const a = new WasmChunkBuffer(1 * MiB);
    const b = new WasmChunkBuffer(1 * MiB);
    try {
      a.bytes.fill(1);
      b.bytes.fill(2);
      expect(a.bytes.every((x) => x === 1)).toBe(true);
      expect(() => buffer.bytes).toThrow("used after it was freed");
      expect(() => buffer.cutPoints(1000, SMALL)).toThrow("used after it was freed");
    } finally {
      a.free();
      b.free();
    }
  });
});

describe("ChunkWindow.fill", () => {
  it("reads straight into the window, in pieces of any size, and chunks like one wasm call", () => {
    const data = pseudoRandomBytes(9 * MiB + 321, 11);
    for (const limit of [1000, 64 * KiB + 3, 1 * MiB, 16 * MiB]) {
      const window = new ChunkWindow(SMALL);
      const lengths: number[] = [];
      let offset = 0;
      try {
        for (;;) {
          const { bytes, chunks } = window.fill(limit, (into) => {
            const n = Math.min(into.length, data.length - offset);
            into.set(data.subarray(offset, offset + n));
            return n;
          });
          offset += bytes;
          lengths.push(...chunks.map((c) => c.length));
          if (bytes === 0) break;
        }
        lengths.push(...window.end().map((c) => c.length));
      } finally {
        window.dispose();
      }
      expect(offset).toBe(data.length);
      expect(lengths).toEqual(referenceLengths(data, SMALL));
    }
  });

  it("refuses a read that claims more than the room it was given", () => {
    const window = new ChunkWindow(SMALL);
    try {
      expect(() => window.fill(100, (into) => into.length + 1)).toThrow(RangeError);
    } finally {
      window.dispose();
    }
  });
});

describe("chunkStream", () => {
  const data = pseudoRandomBytes(20 * MiB + 12345, 42); // spans several 4 MiB windows
  const expected = referenceLengths(data, SMALL);

  it("chunks like one wasm call, with chunk sizes in bounds", () => {
    expect(expected.length).toBeGreaterThan(20 * MiB / SMALL.maxSize);
    expectSizesInBounds(expected, SMALL);
  });

  it.each([7, 4096, 65536, 1 * MiB, 16 * MiB])("gives the same boundaries for %i-byte reads", async (readSize) => {
    expect(await streamLengths(chunkStream(readsOf(data, readSize), SMALL), data)).toEqual(expected);
  });

  it("gives the same boundaries for 1-byte reads", async () => {
    const small = data.subarray(0, 9 * MiB); // just over one window
    expect(await streamLengths(chunkStream(readsOf(small, 1), SMALL), small)).toEqual(referenceLengths(small, SMALL));
  });

  it("gives the same boundaries for random read sizes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: data.length - 1 }), { maxLength: 300 }), async (splits) => {
        splits.sort((a, b) => a - b);
        expect(await streamLengths(chunkStream(readsAt(data, splits), SMALL), data)).toEqual(expected);
      }),
      { numRuns: 20 },
    );
  });

  it("gives the same boundaries for random small inputs and read sizes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 20_000 }),
        fc.uniqueArray(fc.nat(), { maxLength: 50 }),
        async (input, cuts) => {
          const splits = [...new Set(cuts.map((c) => c % input.length))].filter((s) => s > 0).sort((a, b) => a - b);
          const lengths = await streamLengths(chunkStream(readsAt(input, splits), TINY), input);
          expect(lengths).toEqual(referenceLengths(input, TINY));
          expectSizesInBounds(lengths, TINY);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ["0 bytes", 0, []],
    ["1 byte", 1, [1]],
    ["exactly minSize", SMALL.minSize, [SMALL.minSize]],
  ])("chunks an input of %s", async (_name, length, lengths) => {
    const input = pseudoRandomBytes(length, 7);
    expect(await streamLengths(chunkStream(readsOf(input, 1000), SMALL), input)).toEqual(lengths);
  });

  it.each([SMALL.maxSize, 3 * SMALL.maxSize + 5])("chunks %i bytes like one wasm call", async (length) => {
    const input = pseudoRandomBytes(length, 9);
    expect(await streamLengths(chunkStream(readsOf(input, 1000), SMALL), input)).toEqual(referenceLengths(input, SMALL));
  });

  it("cuts featureless data at maxSize", async () => {
    const zeros = new Uint8Array(3 * SMALL.maxSize + 5);
    const lengths = [SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, 5];
    expect(await streamLengths(chunkStream(readsOf(zeros, 1000), SMALL), zeros)).toEqual(lengths);
  });

  it("yields chunks that stay intact and own their buffers", async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of chunkStream(readsOf(data, 3 * MiB), SMALL)) chunks.push(chunk);
    for (const chunk of chunks) expect(chunk.buffer.byteLength).toBe(chunk.byteLength);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it("works with the default parameters", async () => {
    expect(await streamLengths(chunkStream(readsOf(data, 1 * MiB), DEFAULT_CHUNKER_PARAMS), data)).toEqual(
      referenceLengths(data, DEFAULT_CHUNKER_PARAMS),
    );
  });

  it("streams inputs larger than the 64 MiB window cap", async () => {
    const big = pseudoRandomBytes(80 * MiB, 2024);
    const reference = piecewiseReferenceLengths(big, HUGE, 40 * MiB);
    expectSizesInBounds(reference, HUGE);
    for (const readSize of [1 * MiB, 16 * MiB + 3]) {
      expect(await streamLengths(chunkStream(readsOf(big, readSize), HUGE), big)).toEqual(reference);
    }
  });
});

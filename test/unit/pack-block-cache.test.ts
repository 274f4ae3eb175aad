// Tree reads go through a cache of 1 MiB pack blocks: right bytes, few reads, damage still readable.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError } from "../../src/errors.js";
import type { ByteRange } from "../../src/store/backend/backend.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { PackBlockCache } from "../../src/store/pack/pack-block-cache.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import { pseudoRandomBytes } from "../support/test-data.js";

const MiB = 1024 * 1024;
const PACK = "c".repeat(64);

let work: string;
let backend: LocalBackend;
let reads: ByteRange[];

beforeEach(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-blocks-"));
  backend = new LocalBackend(work);
  reads = [];
  const get = backend.get.bind(backend);
  backend.get = (key: string, range?: ByteRange) => {
    if (range) reads.push(range);
    return get(key, range);
  };
});

afterEach(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("PackBlockCache", () => {
  it("returns exactly the bytes asked for, within a block, across blocks and at the end", async () => {
    const pack = pseudoRandomBytes(2.5 * MiB, 7);
    await backend.put(packKey(PACK), pack);
    const cache = new PackBlockCache(backend, () => pack.length);
    for (const [offset, length] of [
      [0, 100],
      [5000, 3000],
      [MiB - 10, 20],
      [MiB - 1, MiB + 2],
      [pack.length - 7, 7],
    ] as const) {
      expect((await cache.read(PACK, offset, length)).equals(pack.subarray(offset, offset + length))).toBe(true);
    }
    // Three blocks in all, each read once.
    expect(reads).toEqual([
      { offset: 0, length: MiB },
      { offset: MiB, length: MiB },
      { offset: 2 * MiB, length: pack.length - 2 * MiB },
    ]);
  });

  it("reads a block once for many small ranges, also when they are asked for at the same time", async () => {
    const pack = pseudoRandomBytes(MiB / 2, 8);
    await backend.put(packKey(PACK), pack);
    const cache = new PackBlockCache(backend, () => pack.length);
    const ranges = Array.from({ length: 200 }, (_, i) => [i * 2000, 1500] as const);
    const got = await Promise.all(ranges.map(([offset, length]) => cache.read(PACK, offset, length)));
    got.forEach((bytes, i) => expect(bytes.equals(pack.subarray(ranges[i]![0], ranges[i]![0] + ranges[i]![1]))).toBe(true));
    expect(reads).toHaveLength(1);
  });

  it("still reads what a pack cut short holds, and says what it does not", async () => {
    const pack = pseudoRandomBytes(MiB / 2, 9);
    await backend.put(packKey(PACK), pack.subarray(0, 1000));
    const cache = new PackBlockCache(backend, () => pack.length);
    expect((await cache.read(PACK, 10, 90)).equals(pack.subarray(10, 100))).toBe(true);
    await expect(cache.read(PACK, 900, 200)).rejects.toThrow(NotFoundError);
  });

  it("reads exactly when the pack's size is not known", async () => {
    const pack = pseudoRandomBytes(4096, 10);
    await backend.put(packKey(PACK), pack);
    const cache = new PackBlockCache(backend, () => undefined);
    expect((await cache.read(PACK, 100, 50)).equals(pack.subarray(100, 150))).toBe(true);
    expect(reads).toEqual([{ offset: 100, length: 50 }]);
  });
});

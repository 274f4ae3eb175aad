// What repair index can recover from a damaged pack, blob by blob (docs/check-and-repair.md).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { salvagePack } from "../../src/check/pack-salvage.js";
import { encodeBlob } from "../../src/store/blob-codec.js";
import type { BlobType } from "../../src/store/blob-type.js";
import { hashBytes } from "../../src/store/id.js";
import { PackBuilder } from "../../src/store/pack/pack-builder.js";
import { serializeTree } from "../../src/store/tree/tree-codec.js";

function buildPack(type: BlobType, blobs: Buffer[]) {
  const builder = new PackBuilder(type);
  for (const blob of blobs) builder.add(hashBytes(blob), blob.length, encodeBlob(blob, 3));
  return builder.finish();
}

// Text compresses (a zstd frame); random bytes do not (stored raw).
const text = (seed: string) => Buffer.from(`${seed} `.repeat(3000));
const A = text("alpha");
const B = randomBytes(20_000);
const C = text("charlie");
const D = randomBytes(30_000);
const ids = (blobs: Buffer[]) => blobs.map((b) => hashBytes(b));

describe("salvagePack", () => {
  const pack = buildPack("data", [A, B, C, D]);

  it("recovers everything from an intact pack, by its trailer", () => {
    expect(pack.entries.map((e) => e.compression)).toEqual([1, 0, 1, 0]);
    const result = salvagePack(pack.bytes, []);
    expect(result.blobs.map((b) => b.id)).toEqual(ids([A, B, C, D]));
    expect(result.blobs.every((b) => b.type === "data")).toBe(true);
    expect(result.lost).toEqual([]);
  });

  it("without trailer or index, recovers the compressed blobs (self-delimiting) but not the raw ones", () => {
    const bytes = Buffer.from(pack.bytes);
    bytes.write("XXXXXXXX", bytes.length - 8, "ascii");
    const result = salvagePack(bytes, []);
    expect(result.blobs.map((b) => b.id)).toEqual(ids([A, C]));
    expect(result.lost.map((l) => l.offset)).toEqual([pack.entries[1]!.offset, pack.entries[3]!.offset]);
  });

  it("with the index's entries as hints, recovers the raw blobs too", () => {
    const bytes = Buffer.from(pack.bytes);
    bytes.write("XXXXXXXX", bytes.length - 8, "ascii");
    const result = salvagePack(bytes, pack.entries, "data");
    expect(result.blobs.map((b) => b.id)).toEqual(ids([A, B, C, D]));
    expect(result.blobs.map((b) => b.plain.equals([A, B, C, D][result.blobs.indexOf(b)]!))).toEqual([true, true, true, true]);
  });

  it("from a pack cut in the middle of a blob, recovers every blob before the cut", () => {
    const cut = pack.entries[2]!.offset + 10;
    const result = salvagePack(pack.bytes.subarray(0, cut), pack.entries);
    expect(result.blobs.map((b) => b.id)).toEqual(ids([A, B]));
    expect(result.expected).toEqual(new Set(ids([A, B, C, D])));
  });

  it("skips a blob whose bytes are damaged and recovers the ones after it", () => {
    const bytes = Buffer.from(pack.bytes);
    bytes[pack.entries[1]!.offset + 100]! ^= 0xff;
    const result = salvagePack(bytes, []);
    expect(result.blobs.map((b) => b.id)).toEqual(ids([A, C, D]));
    expect(result.lost).toEqual([{ offset: pack.entries[1]!.offset, length: pack.entries[1]!.storedLength }]);
  });

  it("tells tree packs from data packs when nothing says which", () => {
    const trees = [serializeTree([{ name: "a".repeat(500), type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "2026-01-01T00:00:00.000000000Z", size: 0, content: [] }])];
    const treePack = buildPack("tree", trees);
    const bytes = Buffer.from(treePack.bytes);
    bytes.write("XXXXXXXX", bytes.length - 8, "ascii");
    const result = salvagePack(bytes, []);
    expect(result.blobs.map((b) => [b.id, b.type])).toEqual([[hashBytes(trees[0]!), "tree"]]);
  });
});

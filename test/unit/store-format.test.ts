// The repository's on-disk formats and the local backend's guarantees.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlreadyExistsError, IntegrityError, NotFoundError, RepositoryNotFoundError } from "../../src/errors.js";
import type { Backend } from "../../src/store/backend/backend.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { withRequiredCallsOnly } from "../support/backends.js";
import { RangeReader } from "../../src/store/backend/range-reader.js";
import { Compression, decodeBlob, encodeBlob } from "../../src/store/blob-codec.js";
import { DEFAULT_PACK_SIZE, parseConfig, serializeConfig, type RepositoryConfig } from "../../src/store/config.js";
import { hashBytes } from "../../src/store/id.js";
import { PackBuilder } from "../../src/store/pack/pack-builder.js";
import { PACK_FOOTER_BYTES, PACK_MAGIC, TRAILER_ENTRY_BYTES, packKey, parseFooter, parseTrailer } from "../../src/store/pack/pack-format.js";
import { listSnapshots, loadSnapshot, writeSnapshot } from "../../src/store/snapshot/snapshot-store.js";
import { parseSnapshot, serializeSnapshot, type Snapshot } from "../../src/store/snapshot/snapshot.js";
import { formatNanos, isValidTime, parseNanos } from "../../src/store/tree/time.js";
import { parseTree, serializeTree } from "../../src/store/tree/tree-codec.js";
import { sameNode, type TreeNode } from "../../src/store/tree/tree-node.js";

const ID_A = "a".repeat(64);

/** Splits a pack into its parts the way a reader does: footer first, then trailer. */
function readPack(packId: string, bytes: Buffer) {
  const footer = bytes.subarray(bytes.length - PACK_FOOTER_BYTES);
  const trailerLength = parseFooter(packId, footer, bytes.length);
  const trailer = bytes.subarray(bytes.length - PACK_FOOTER_BYTES - trailerLength, bytes.length - PACK_FOOTER_BYTES);
  return parseTrailer(packId, trailer, bytes.length);
}

function buildPack(blobs: Buffer[]) {
  const builder = new PackBuilder("data");
  for (const plain of blobs) builder.add(hashBytes(plain), plain.length, encodeBlob(plain, 3));
  return builder.finish();
}

describe("packs", () => {
  const blobs = [
    Buffer.from("hello, pack"),
    randomBytes(70_000), // incompressible: stored raw
    Buffer.alloc(100_000, 7), // compressible: stored as zstd
    Buffer.alloc(0),
  ];

  it("round-trips: the trailer locates every blob and each decodes to its plaintext", () => {
    const pack = buildPack(blobs);
    expect(pack.id).toBe(hashBytes(pack.bytes));
    expect(packKey(pack.id)).toBe(`data/${pack.id.slice(0, 2)}/${pack.id}`);
    expect(pack.bytes.subarray(pack.bytes.length - PACK_MAGIC.length).equals(PACK_MAGIC)).toBe(true);
    const entries = readPack(pack.id, pack.bytes);
    expect(entries).toEqual(pack.entries);
    expect(entries.map((e) => e.compression)).toEqual([Compression.none, Compression.none, Compression.zstd, Compression.none]);
    entries.forEach((e, i) => {
      expect(e.type).toBe("data");
      const stored = pack.bytes.subarray(e.offset, e.offset + e.storedLength);
      expect(decodeBlob(e.id, stored, e.compression, e.plainLength).equals(blobs[i]!)).toBe(true);
    });
    // Blobs tile the pack from byte 0 up to the trailer.
    const last = entries[entries.length - 1]!;
    expect(last.offset + last.storedLength).toBe(pack.bytes.length - PACK_FOOTER_BYTES - entries.length * TRAILER_ENTRY_BYTES);
  });

  it("refuses a pack with a bad magic", () => {
    const pack = buildPack(blobs);
    const bad = Buffer.from(pack.bytes);
    bad[bad.length - 1] ^= 0xff;
    expect(() => readPack(pack.id, bad)).toThrow(IntegrityError);
    expect(() => readPack(pack.id, bad)).toThrow(/bad magic/);
  });

  it("refuses impossible trailer lengths", () => {
    const pack = buildPack(blobs);
    const footer = Buffer.from(pack.bytes.subarray(pack.bytes.length - PACK_FOOTER_BYTES));
    footer.writeUInt32LE(TRAILER_ENTRY_BYTES + 1, 0); // not a whole number of entries
    expect(() => parseFooter(pack.id, footer, pack.bytes.length)).toThrow(/trailer length .* is impossible/);
    footer.writeUInt32LE(TRAILER_ENTRY_BYTES * 1_000_000, 0); // longer than the pack
    expect(() => parseFooter(pack.id, footer, pack.bytes.length)).toThrow(/trailer length .* is impossible/);
    expect(() => parseFooter(pack.id, footer.subarray(1), pack.bytes.length)).toThrow(/bad magic/);
  });

  it("refuses a truncated pack, whichever end was cut", () => {
    const pack = buildPack(blobs);
    expect(() => readPack(pack.id, pack.bytes.subarray(0, pack.bytes.length - 5))).toThrow(IntegrityError);
    // Losing blob bytes at the front leaves the footer intact but the trailer no longer tiles the pack.
    expect(() => readPack(pack.id, pack.bytes.subarray(100))).toThrow(/trailer describes \d+ bytes of blobs, pack holds \d+/);
    expect(() => readPack(pack.id, Buffer.alloc(3))).toThrow(IntegrityError);
  });

  it("refuses trailer entries with an unknown type or absurd lengths", () => {
    const pack = buildPack([Buffer.from("x")]);
    const unknownType = Buffer.from(pack.bytes);
    unknownType[1] = 9; // the first trailer entry's type byte (the blob is 1 byte)
    expect(() => readPack(pack.id, unknownType)).toThrow(/unknown blob type/);
    const absurd = Buffer.from(pack.bytes);
    absurd.writeUInt32LE(0xffffffff, 1 + 6); // plaintext length
    expect(() => readPack(pack.id, absurd)).toThrow(/absurd length/);
  });

  it("decodeBlob verifies content against the id", () => {
    const plain = Buffer.alloc(50_000, 1);
    const encoded = encodeBlob(plain, 3);
    expect(encoded.compression).toBe(Compression.zstd);
    expect(() => decodeBlob(hashBytes(Buffer.from("other")), encoded.stored, encoded.compression, plain.length)).toThrow(/content hash is/);
    expect(() => decodeBlob(hashBytes(plain), encoded.stored, encoded.compression, plain.length - 1)).toThrow(IntegrityError);
    const flipped = Buffer.from(plain);
    flipped[10] = 2;
    expect(() => decodeBlob(hashBytes(plain), flipped, Compression.none, plain.length)).toThrow(IntegrityError);
    expect(() => decodeBlob(hashBytes(plain), plain, 7, plain.length)).toThrow(/unknown compression/);
  });
});

function node(name: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type: "file", mode: 0o644, uid: 1000, gid: 1000, mtime: "2024-01-02T03:04:05.123456789Z", size: 0, content: [], ...extra };
}

describe("trees", () => {
  // Byte order differs from JavaScript's UTF-16 order: U+FF61 sorts after U+1F600 in UTF-16
  // (surrogates are 0xD8xx) but before it in UTF-8 (ef.. < f0..).
  const nonUtf8 = Buffer.from([0xff, 0x61]);
  const names = ["b", "a", "B", "é", "😀", "｡", "z", "a b", "a.b"];
  const nodes = [...names.map((n) => node(n)), node("\ufffda", { nameRaw: nonUtf8 })];

  it("sorts nodes by the bytes of their names, whatever the input order", () => {
    const bytes = serializeTree(nodes);
    const parsed = parseTree(hashBytes(bytes), bytes);
    expect(parsed.map((n) => (n.nameRaw ?? Buffer.from(n.name)).toString("hex"))).toEqual(
      [...names.map((n) => Buffer.from(n)), nonUtf8].sort(Buffer.compare).map((b) => b.toString("hex")),
    );
    expect(parsed.map((n) => n.name)).toEqual(["B", "a", "a b", "a.b", "b", "z", "é", "｡", "😀", "\ufffda"]);
  });

  it("is deterministic: any permutation gives the same bytes", () => {
    const reference = serializeTree(nodes);
    for (let i = 0; i < 20; i++) {
      const shuffled = [...nodes].sort(() => Math.random() - 0.5);
      expect(serializeTree(shuffled).equals(reference)).toBe(true);
    }
  });

  it("keeps raw name bytes and every field through a round trip", () => {
    const full = node("x", {
      nameRaw: nonUtf8,
      user: "ann",
      group: "staff",
      atime: "1970-01-01T00:00:00.000000001Z",
      ctime: "2038-01-19T03:14:08.999999999Z",
      inode: 2 ** 40,
      deviceId: 66306,
      links: 2,
      size: 5,
      content: [ID_A],
      xattrs: [{ name: "user.k", value: Buffer.from([0, 1, 2, 255]) }],
    });
    const link = node("l", { type: "symlink", content: undefined, size: undefined, linkTarget: "\ufffd", linkTargetRaw: Buffer.from([0xc3, 0x28]) });
    const dir = node("d", { type: "dir", content: undefined, size: undefined, subtree: ID_A, mode: 0o1777 });
    const bytes = serializeTree([full, link, dir]);
    const parsed = parseTree(hashBytes(bytes), bytes);
    const byName = new Map(parsed.map((n) => [n.name, n]));
    expect(byName.get("x")).toEqual(full);
    expect(byName.get("l")).toEqual(link);
    expect(byName.get("d")).toEqual(dir);
  });

  it("refuses duplicate names (by bytes)", () => {
    expect(() => serializeTree([node("a"), node("a")])).toThrow(/duplicate name/);
    expect(() => serializeTree([node("a"), node("\ufffd", { nameRaw: Buffer.from("a") })])).toThrow(/duplicate name/);
  });

  it("sameNode tells a node from a copy that differs in any one field, and not from its round trip", () => {
    const full = node("x", {
      nameRaw: nonUtf8,
      user: "ann",
      atime: "1970-01-01T00:00:00.000000001Z",
      ctime: "2038-01-19T03:14:08.999999999Z",
      inode: 7,
      links: 2,
      size: 5,
      content: [ID_A, ID_A],
      xattrs: [{ name: "user.k", value: Buffer.from([0, 1]) }],
    });
    const bytes = serializeTree([full]);
    expect(sameNode(full, parseTree(hashBytes(bytes), bytes)[0]!)).toBe(true);
    const variants: Partial<TreeNode>[] = [
      { name: "y" },
      { nameRaw: Buffer.from([0xff, 0x62]) },
      { mode: 0o600 },
      { uid: 1 },
      { gid: 1 },
      { user: "bob" },
      { group: "staff" },
      { mtime: "2024-01-02T03:04:05.123456788Z" },
      { atime: undefined },
      { inode: 8 },
      { deviceId: 1 },
      { links: 1 },
      { size: 6 },
      { content: [ID_A] },
      { content: [ID_A, "b".repeat(64)] },
      { xattrs: [{ name: "user.k", value: Buffer.from([0, 2]) }] },
      { xattrs: [] },
      { rdev: 1 },
      { damage: { originalSize: 9 } },
    ];
    for (const change of variants) {
      const changed = { ...full, ...change } as TreeNode;
      for (const key of Object.keys(change) as (keyof TreeNode)[]) if (change[key] === undefined) delete changed[key];
      expect(sameNode(full, changed), JSON.stringify(Object.keys(change))).toBe(false);
      expect(sameNode(changed, full), JSON.stringify(Object.keys(change))).toBe(false);
    }
  });

  it.each([
    ["not JSON", "{", /not valid JSON/],
    ["no node list", "{}", /no node list/],
    ["unknown type", JSON.stringify({ nodes: [{ ...node("a"), type: "door" }] }), /unknown node type/],
    ["negative mode", JSON.stringify({ nodes: [{ ...node("a"), mode: -1 }] }), /mode is not a non-negative integer/],
    ["bad time", JSON.stringify({ nodes: [{ ...node("a"), mtime: "yesterday" }] }), /mtime is not a valid time/],
    ["dir without subtree", JSON.stringify({ nodes: [{ ...node("a"), type: "dir" }] }), /has no subtree/],
    ["file without content", JSON.stringify({ nodes: [{ name: "a", type: "file", mode: 1, uid: 0, gid: 0, mtime: "2024-01-01T00:00:00Z" }] }), /no content list/],
    ["content not ids", JSON.stringify({ nodes: [{ ...node("a"), content: ["xyz"] }] }), /content is not a list of ids/],
  ])("parseTree refuses %s", (_name, text, message) => {
    expect(() => parseTree(ID_A, Buffer.from(text))).toThrow(IntegrityError);
    expect(() => parseTree(ID_A, Buffer.from(text))).toThrow(message);
  });
});

describe("times", () => {
  const MAX_NS = 8_640_000_000_000n * 1_000_000_000n; // the span of a JavaScript date

  it("round-trip to the nanosecond over the whole span of a date, years past 9999 and before 0 included", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX_NS, max: MAX_NS }), (ns) => {
        const text = formatNanos(ns);
        expect(parseNanos(text)).toBe(ns);
        // Every time a backup records can be read back from its tree.
        expect(parseTree(ID_A, serializeTree([node("f", { mtime: text })]))[0]!.mtime).toBe(text);
      }),
      { numRuns: 2000 },
    );
    expect(formatNanos(253_402_300_800_000_000_001n)).toBe("+010000-01-01T00:00:00.000000001Z");
    expect(formatNanos(-62_167_219_300_000_000_000n)).toBe("-000001-12-31T23:58:20.000000000Z");
    expect(formatNanos(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
  });

  it("formats the seconds of years 0000-9999 as a Date does, leap days and year ends included", () => {
    const asDate = (seconds: number) => new Date(seconds * 1000).toISOString().replace(".000Z", ".000000000Z");
    const edges = [-62_167_219_200, -62_162_035_201, -1, 0, 951_782_400, 951_868_799, 4_107_542_399, 253_402_300_799];
    for (const seconds of edges) expect(formatNanos(BigInt(seconds) * 1_000_000_000n)).toBe(asDate(seconds));
    fc.assert(
      fc.property(fc.integer({ min: -62_167_219_200, max: 253_402_300_799 }), (seconds) => {
        expect(formatNanos(BigInt(seconds) * 1_000_000_000n)).toBe(asDate(seconds));
      }),
      { numRuns: 20_000 },
    );
  });

  it("isValidTime accepts exactly what parseNanos accepts", () => {
    const parses = (text: string) => {
      try {
        parseNanos(text);
        return true;
      } catch {
        return false;
      }
    };
    const digits = (n: number) => fc.integer({ min: 0, max: 10 ** n - 1 }).map((v) => String(v).padStart(n, "0"));
    const nearTime = fc
      .tuple(fc.constantFrom("", "+0", "-0"), digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), fc.constantFrom("", ".5", ".123456789", ".1234567890"), fc.constantFrom("Z", "+01:00", "-99:99", "z", ""))
      .map(([sign, y, mo, d, h, mi, s, f, z]) => `${sign}${sign ? "0" : ""}${y}-${mo}-${d}T${h}:${mi}:${s}${f}${z}`);
    fc.assert(
      fc.property(fc.oneof(nearTime, fc.string()), (text) => {
        expect(isValidTime(text)).toBe(parses(text));
      }),
      { numRuns: 5000 },
    );
    for (const text of ["2025-02-30T00:00:00Z", "2025-12-31T24:00:00Z", "2025-12-31T23:59:60Z", "2025-13-01T00:00:00Z", "+275761-01-01T00:00:00Z"]) {
      expect(isValidTime(text), text).toBe(parses(text));
    }
  });

  it("clamps times beyond a date's span (a file system may hold year 287168)", () => {
    expect(parseNanos(formatNanos(9_000_000_000_000n * 1_000_000_000n))).toBe(MAX_NS);
    expect(parseNanos(formatNanos(-MAX_NS - 5n))).toBe(-MAX_NS);
  });
});

describe("snapshots", () => {
  const snapshot: Snapshot = {
    time: "2024-05-06T07:08:09.123Z",
    tree: ID_A,
    paths: ["/home/ann"],
    hostname: "h",
    username: "ann",
    uid: 1000,
    gid: 1000,
    tags: ["daily"],
    programVersion: "cairn 0.1.0",
  };

  it("round-trips, and its id is the hash of its bytes", async () => {
    const bytes = serializeSnapshot(snapshot);
    expect(parseSnapshot(hashBytes(bytes), bytes)).toEqual({ id: hashBytes(bytes), ...snapshot });
  });

  it.each([
    ["not JSON", "nope", /not valid JSON/],
    ["no time", JSON.stringify({ tree: ID_A }), /no valid time/],
    ["bad time", JSON.stringify({ time: "soon", tree: ID_A }), /no valid time/],
    ["bad tree", JSON.stringify({ time: snapshot.time, tree: "abc" }), /no valid tree id/],
    ["bad parent", JSON.stringify({ time: snapshot.time, tree: ID_A, parent: 5 }), /invalid parent/],
    ["paths not strings", JSON.stringify({ time: snapshot.time, tree: ID_A, paths: [1] }), /paths is not a list of strings/],
  ])("parseSnapshot refuses %s", (_name, text, message) => {
    expect(() => parseSnapshot(ID_A, Buffer.from(text))).toThrow(IntegrityError);
    expect(() => parseSnapshot(ID_A, Buffer.from(text))).toThrow(message);
  });
});

describe("config", () => {
  const config: RepositoryConfig = {
    version: 1,
    id: "f".repeat(64),
    created: "2024-01-01T00:00:00.000Z",
    chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384 },
    compression: { algorithm: "zstd", level: 3 },
    packSize: DEFAULT_PACK_SIZE,
  };
  const json = () => JSON.parse(serializeConfig(config).toString("utf8")) as Record<string, unknown>;

  it("round-trips", () => {
    expect(parseConfig("/r", serializeConfig(config))).toEqual(config);
  });

  it("reads a config written before the checksum", () => {
    const { checksum, ...old } = json();
    expect(checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(parseConfig("/r", Buffer.from(JSON.stringify(old)))).toEqual(config);
  });

  it.each([
    ["garbage", () => "\x00garbage{", /not valid JSON/],
    ["a JSON string", () => '"config"', /not an object|unsupported version/],
    ["null", () => "null", /not an object/],
    ["a future version", () => JSON.stringify({ ...json(), version: 2 }), /unsupported version 2/],
    ["no id", () => JSON.stringify({ ...json(), id: "" }), /no repository id/],
    ["no chunker", () => JSON.stringify({ ...json(), chunker: undefined }), /missing chunker/],
    ["bad chunker sizes", () => JSON.stringify({ ...json(), chunker: { min_size: 1, avg_size: 2, max_size: 3 } }), /chunker minSize must be/],
    ["bad compression level", () => JSON.stringify({ ...json(), compression: { algorithm: "zstd", level: 99 } }), /compression level/],
    ["bad pack size", () => JSON.stringify({ ...json(), pack_size: 5 }), /pack size/],
    ["a valid but changed chunker size", () => JSON.stringify({ ...json(), chunker: { min_size: 1024, avg_size: 4096, max_size: 16380 } }), /checksum does not match/],
    ["a changed id", () => JSON.stringify({ ...json(), id: "e".repeat(64) }), /checksum does not match/],
    ["a changed checksum", () => JSON.stringify({ ...json(), checksum: "0".repeat(64) }), /checksum does not match/],
  ])("parseConfig refuses %s as a damaged repository", (_name, text, message) => {
    const parse = () => parseConfig("/r", Buffer.from(text()));
    expect(parse).toThrow(RepositoryNotFoundError);
    expect(parse).toThrow(/^\/r: repository config is damaged/);
    expect(parse).toThrow(message);
  });
});

describe("local backend", () => {
  let root: string;
  let backend: LocalBackend;

  beforeEach(async () => {
    root = await fs.mkdtemp(join(tmpdir(), "cairn-backend-"));
    backend = new LocalBackend(root);
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const leftovers = async () => (await fs.readdir(root, { recursive: true })).filter((p) => String(p).split("/").pop()!.startsWith("."));

  it("never overwrites: a second put of the same key fails and keeps the first content", async () => {
    await backend.put("snapshots/x", Buffer.from("first"));
    await expect(backend.put("snapshots/x", Buffer.from("second"))).rejects.toThrow(AlreadyExistsError);
    expect((await backend.get("snapshots/x")).toString()).toBe("first");
    expect(await leftovers()).toEqual([]);
  });

  it("creates files 0600 and directories 0700", async () => {
    const key = packKey("ab" + "0".repeat(62));
    await backend.put(key, Buffer.from("pack"));
    expect((await fs.stat(join(root, key))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(join(root, "data"))).mode & 0o777).toBe(0o700);
    expect((await fs.stat(join(root, "data", "ab"))).mode & 0o777).toBe(0o700);
  });

  it("reads byte ranges, and reports reads past the end or of missing objects as NotFoundError", async () => {
    const data = randomBytes(10_000);
    await backend.put("index/i", data);
    expect((await backend.get("index/i", { offset: 1234, length: 5000 })).equals(data.subarray(1234, 6234))).toBe(true);
    expect((await backend.get("index/i", { offset: 0, length: 0 })).length).toBe(0);
    await expect(backend.get("index/i", { offset: 9000, length: 2000 })).rejects.toThrow(/short read/);
    await expect(backend.get("index/i", { offset: 9000, length: 2000 })).rejects.toThrow(NotFoundError);
    await expect(backend.get("index/missing")).rejects.toThrow(NotFoundError);
    await expect(backend.get("nothere/missing", { offset: 0, length: 1 })).rejects.toThrow(NotFoundError);
  });

  it("reads ranges into a caller's buffer, and through a copy for a backend that cannot", async () => {
    const data = randomBytes(10_000);
    await backend.put("index/i", data);
    const into = Buffer.alloc(8192);
    const read = await backend.readInto("index/i", { offset: 100, length: 4000 }, into);
    expect(read.buffer).toBe(into.buffer);
    expect(read.equals(data.subarray(100, 4100))).toBe(true);
    await expect(backend.readInto("index/i", { offset: 9000, length: 2000 }, into)).rejects.toThrow(NotFoundError);
    await expect(backend.readInto("index/missing", { offset: 0, length: 1 }, into)).rejects.toThrow(NotFoundError);

    const reader = new RangeReader(backend);
    const first = await reader.read("index/i", { offset: 0, length: 3000 });
    expect(first.equals(data.subarray(0, 3000))).toBe(true);
    const second = await reader.read("index/i", { offset: 5000, length: 2000 });
    expect(second.equals(data.subarray(5000, 7000))).toBe(true);
    // One buffer, reused: the first result now holds the second read's bytes.
    expect(second.buffer).toBe(first.buffer);
    const withoutReadInto = withRequiredCallsOnly(backend);
    const fallback = new RangeReader(withoutReadInto);
    expect((await fallback.read("index/i", { offset: 9000, length: 1000 })).equals(data.subarray(9000))).toBe(true);
    await expect(fallback.read("index/i", { offset: 9000, length: 2000 })).rejects.toThrow(NotFoundError);
  });

  it("lists by prefix, in key order, skipping temporary files", async () => {
    await backend.put("data/cd/cd2", Buffer.from("22"));
    await backend.put("data/ab/ab1", Buffer.from("1"));
    await backend.put("snapshots/s", Buffer.from("s"));
    await fs.writeFile(join(root, "data", "ab", ".tmp-0123456789abcdef"), "half-written pack");
    const list = async (prefix: string) => {
      const out = [];
      for await (const info of backend.list(prefix)) out.push(info);
      return out;
    };
    expect(await list("data/")).toEqual([
      { key: "data/ab/ab1", size: 1 },
      { key: "data/cd/cd2", size: 2 },
    ]);
    expect(await list("data")).toEqual(await list("data/"));
    expect(await list("snapshots/")).toEqual([{ key: "snapshots/s", size: 1 }]);
    expect(await list("locks/")).toEqual([]);
  });

  it("names a root that is a file as no repository, rather than a missing object", async () => {
    await fs.writeFile(join(root, "file"), "x");
    const onFile = new LocalBackend(join(root, "file"));
    await expect(onFile.get("config")).rejects.toThrow(RepositoryNotFoundError);
    await expect(onFile.get("config")).rejects.toThrow(`${join(root, "file")} is not a directory`);
    await fs.mkdir(join(root, "data"));
    await fs.writeFile(join(root, "data", "ab"), "a file where a folder should be");
    await expect(backend.get("data/ab/ab1")).rejects.toThrow(NotFoundError);
  });

  it("stats and deletes, deleting a missing object being no error", async () => {
    await backend.put("locks/l", Buffer.from("lock"));
    expect(await backend.stat("locks/l")).toEqual({ key: "locks/l", size: 4 });
    expect(await backend.stat("locks")).toBeUndefined();
    await backend.delete("locks/l");
    expect(await backend.stat("locks/l")).toBeUndefined();
    await expect(backend.delete("locks/l")).resolves.toBeUndefined();
  });

  it("lists many snapshots oldest first, with a bounded number of reads in flight", async () => {
    const times = Array.from({ length: 300 }, (_, i) => new Date(Date.UTC(2024, 0, 1) + ((i * 7919) % 300) * 60_000).toISOString());
    for (const time of times) await writeSnapshot(backend, { time, tree: ID_A, paths: [], hostname: "h", username: "u", tags: [], programVersion: "x" });
    let inFlight = 0;
    let most = 0;
    const counting: Backend = {
      location: backend.location,
      put: (key, data) => backend.put(key, data),
      replace: (key, data) => backend.replace(key, data),
      list: (prefix) => backend.list(prefix),
      stat: (key) => backend.stat(key),
      delete: (key) => backend.delete(key),
      get: async (key, range) => {
        most = Math.max(most, ++inFlight);
        try {
          return await backend.get(key, range);
        } finally {
          inFlight--;
        }
      },
    };
    const listed = await listSnapshots(counting);
    expect(listed.map((s) => s.time)).toEqual([...times].sort());
    expect(most).toBeLessThanOrEqual(64);
  });

  it("loadSnapshot refuses a snapshot whose bytes do not match its name", async () => {
    const id = await writeSnapshot(backend, { time: "2024-01-01T00:00:00Z", tree: ID_A, paths: [], hostname: "h", username: "u", tags: [], programVersion: "x" });
    expect((await loadSnapshot(backend, id)).tree).toBe(ID_A);
    const other = hashBytes(Buffer.from("other"));
    await fs.copyFile(join(root, "snapshots", id), join(root, "snapshots", other));
    await expect(loadSnapshot(backend, other)).rejects.toThrow(/content does not match its name/);
  });
});

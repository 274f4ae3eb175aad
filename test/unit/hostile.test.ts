// A repository is input like any other: crafted trees, documents and packs must never make
// cairn write outside a restore target, crash, or allocate what a length field claims.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binding from "zstd-napi/binding.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkRepository, heldRepository } from "../../src/check/checker.js";
import { repairIndex } from "../../src/check/repair-index.js";
import { IntegrityError, RepositoryNotFoundError } from "../../src/errors.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { decodeBlob } from "../../src/store/blob-codec.js";
import { compressDocument, decompressDocument } from "../../src/store/document-codec.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import { parseIndexFile, serializeIndexFile } from "../../src/store/index/index-file.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import { packKey, parseFooter, parseTrailer, PACK_FOOTER_BYTES } from "../../src/store/pack/pack-format.js";
import { readPackEntries } from "../../src/store/pack/pack-reader.js";
import type { Repository } from "../../src/store/repository.js";
import { serializeTree } from "../../src/store/tree/tree-codec.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";
import { PROGRAM_VERSION } from "../../src/version.js";

const MTIME = "2026-01-01T00:00:00.000000000Z";
let sandbox: string;
let target: string;
let outside: string;
let repo: Repository;

beforeEach(async () => {
  sandbox = await fs.mkdtemp(join(tmpdir(), "cairn-hostile-"));
  target = join(sandbox, "target");
  outside = join(sandbox, "outside");
  await fs.mkdir(outside);
  await initLocalRepository(join(sandbox, "repo"));
  repo = await openLocalRepository(join(sandbox, "repo"));
});

afterEach(async () => {
  await repo.close();
  await fs.rm(sandbox, { recursive: true, force: true });
});

async function file(name: string, content: string, extra: Partial<TreeNode> = {}): Promise<TreeNode> {
  const id = (await repo.saveBlob("data", Buffer.from(content))).id;
  return { name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: MTIME, size: content.length, content: [id], ...extra };
}

function dir(name: string, subtree: Id, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: MTIME, subtree, ...extra };
}

function symlink(name: string, to: string): TreeNode {
  return { name, type: "symlink", mode: 0o777, uid: 0, gid: 0, mtime: MTIME, linkTarget: to };
}

/** A tree blob whose nodes are exactly these, in this order, duplicates and all (serializeTree would refuse). */
async function rawTree(nodes: TreeNode[]): Promise<Id> {
  const parts = nodes.map((n) => (JSON.parse(serializeTree([n]).toString()) as { nodes: unknown[] }).nodes[0]);
  return (await repo.saveBlob("tree", Buffer.from(JSON.stringify({ nodes: parts })))).id;
}

async function snapshot(tree: Id): Promise<Id> {
  return repo.saveSnapshot({ time: new Date().toISOString(), tree, paths: ["/"], hostname: "h", username: "u", tags: [], programVersion: PROGRAM_VERSION });
}

/** Everything in the sandbox outside the target and the repository, as relative paths. */
async function outsideTarget(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const r = `${rel}/${entry.name}`;
      if (r === "/target" || r === "/repo") continue;
      found.push(r);
      if (entry.isDirectory()) await walk(join(d, entry.name), r);
    }
  };
  await walk(sandbox, "");
  return found.sort();
}

describe("hostile names in trees", () => {
  it("are refused by restore (the rest is restored) and reported by check", async () => {
    const absolute = join(sandbox, "absolute-escape");
    const escapeDirTree = await repo.saveTree([await file("escaped-from-dir", "x")]);
    const hostile: TreeNode[] = [
      await file("..", "dot-dot file"),
      dir(".", escapeDirTree),
      dir("..", escapeDirTree),
      await file("../escaped", "slash"),
      await file("a/b", "slash inside"),
      await file(absolute, "absolute"),
      await file("x\0y", "nul"),
      await file("", "empty"),
      await file("innocent", "raw name", { nameRaw: Buffer.from("../escaped-raw") }),
    ];
    const tree = await rawTree([...hostile, await file("ok.txt", "fine")]);
    await snapshot(tree);
    const before = await outsideTarget();

    const result = await restoreSnapshot(repo, tree, { target });
    expect(await outsideTarget()).toEqual(before);
    await expect(fs.stat(absolute)).rejects.toThrow();
    expect(await fs.readFile(join(target, "ok.txt"), "utf8")).toBe("fine");
    expect(await fs.readdir(target)).toEqual(["ok.txt"]);
    expect(result.problems).toHaveLength(hostile.length);

    const report = await checkRepository(heldRepository(repo));
    expect(report.findings.map((f) => f.kind)).toEqual(Array(hostile.length).fill("unsafe-name"));
  });

  it("a symlink cannot lead a later entry of the same name outside the target", async () => {
    const inner = await repo.saveTree([await file("pwned", "through the link")]);
    const tree = await rawTree([symlink("link", outside), dir("link", inner), await file("link", "over the link")]);
    await repo.flush();
    const result = await restoreSnapshot(repo, tree, { target });
    expect(await fs.readdir(outside)).toEqual([]);
    expect(await fs.readlink(join(target, "link"))).toBe(outside);
    expect(result.problems.map((p) => p.message)).toEqual(["duplicate name in directory, skipped", "duplicate name in directory, skipped"]);
  });

  it("symlinks planted in the target (say, by an earlier restore) are replaced, never followed", async () => {
    await fs.writeFile(join(outside, "victim"), "untouched");
    // The first snapshot leaves symlinks pointing outside; the second puts a directory and a file there.
    const first = await repo.saveTree([symlink("d", outside), symlink("f", join(outside, "victim"))]);
    const second = await repo.saveTree([dir("d", await repo.saveTree([await file("inside", "new")])), await file("f", "replaced")]);
    await repo.flush();
    await restoreSnapshot(repo, first, { target });
    expect(await fs.readlink(join(target, "d"))).toBe(outside);
    const result = await restoreSnapshot(repo, second, { target });
    expect(result.problems).toEqual([]);
    expect(await fs.readdir(outside)).toEqual(["victim"]);
    expect(await fs.readFile(join(outside, "victim"), "utf8")).toBe("untouched");
    expect((await fs.lstat(join(target, "d"))).isDirectory()).toBe(true);
    expect(await fs.readFile(join(target, "d", "inside"), "utf8")).toBe("new");
    expect(await fs.readFile(join(target, "f"), "utf8")).toBe("replaced");
  });
});

describe("malformed documents", () => {
  it("a tree that is not JSON, or JSON of the wrong shape, is a damaged directory for restore and check", async () => {
    const notJson = (await repo.saveBlob("tree", Buffer.from("{ definitely not json"))).id;
    const wrongShape = (await repo.saveBlob("tree", Buffer.from(JSON.stringify({ nodes: [{ name: "x", type: "file", mode: "rwx", uid: 0, gid: 0, mtime: MTIME, content: [42] }] })))).id;
    const tree = await repo.saveTree([dir("broken", notJson), dir("odd", wrongShape), await file("ok", "fine")]);
    await snapshot(tree);
    const result = await restoreSnapshot(repo, tree, { target });
    expect(result.damaged.map((d) => [d.path, /not valid JSON|not a non-negative integer/.test(d.message)])).toEqual([
      ["/broken", true],
      ["/odd", true],
    ]);
    expect(await fs.readFile(join(target, "ok"), "utf8")).toBe("fine");
    const report = await checkRepository(heldRepository(repo));
    expect(report.findings.map((f) => [f.kind, f.path])).toEqual([
      ["tree-damaged", "/broken"],
      ["tree-damaged", "/odd"],
    ]);
  });

  it("a snapshot document that is not JSON is reported, and the other snapshots are still checked", async () => {
    await snapshot(await repo.saveTree([await file("ok", "fine")]));
    const garbage = Buffer.from("{ not a snapshot");
    await repo.backend.put(`snapshots/${hashBytes(garbage)}`, garbage);
    const report = await checkRepository(heldRepository(repo));
    expect(report.findings.map((f) => [f.kind, f.snapshot])).toEqual([["snapshot-damaged", hashBytes(garbage)]]);
    expect(report.snapshots).toBe(1);
  });

  it("index files with absurd lengths, sizes or compression are refused before anything is allocated", () => {
    const entry = (plain: number, stored = 10, compression = 1) => ({ id: "a".repeat(64), type: "data" as const, offset: 0, storedLength: stored, plainLength: plain, compression });
    const index = (size: number, e: ReturnType<typeof entry>) => serializeIndexFile({ packs: [{ id: "b".repeat(64), type: "data", size, entries: [e] }] });
    expect(() => parseIndexFile("x", index(100, entry(2 ** 40)))).toThrow(/impossible length/);
    expect(() => parseIndexFile("x", index(100, entry(10, 2 ** 31)))).toThrow(/impossible length/);
    expect(() => parseIndexFile("x", index(2 ** 40, entry(10)))).toThrow(/invalid size/);
    expect(() => parseIndexFile("x", index(100, entry(10, 10, 7)))).toThrow(/compression/);
    expect(() => parseIndexFile("x", Buffer.from('{"version":1,"packs":[{"id":1}]}'))).toThrow(IntegrityError);
    // A document whose zstd header claims a terabyte.
    const frame = Buffer.from(compressDocument(Buffer.from("{}")));
    const lying = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xc0]), Buffer.alloc(8, 0xff), frame.subarray(6)]);
    expect(() => decompressDocument("index x", lying)).toThrow(IntegrityError);
  });

  it("a damaged config names the repository as damaged", async () => {
    await fs.writeFile(join(sandbox, "repo", "config"), "{ nope");
    await expect(openLocalRepository(join(sandbox, "repo"))).rejects.toThrow(RepositoryNotFoundError);
  });
});

describe("malformed packs", () => {
  async function onePack(): Promise<{ id: Id; size: number; path: string }> {
    await repo.saveBlob("data", Buffer.from("some content ".repeat(100)));
    await repo.saveBlob("data", Buffer.from("more content ".repeat(50)));
    await repo.flush();
    const id = repo.lookupBlob(hashBytes(Buffer.from("some content ".repeat(100))))!.packId;
    const path = join(sandbox, "repo", packKey(id));
    return { id, size: (await fs.stat(path)).size, path };
  }

  it("a wrong magic is a clear error, check reports it, and repair index recovers every blob", async () => {
    const pack = await onePack();
    const bytes = await fs.readFile(pack.path);
    bytes.write("NOTAPACK", bytes.length - 8, "ascii");
    await fs.writeFile(pack.path, bytes);
    await expect(readPackEntries(repo.backend, pack.id, pack.size)).rejects.toThrow(/bad magic/);
    const report = await checkRepository(heldRepository(repo));
    expect(report.findings.map((f) => [f.kind, f.pack])).toEqual([["pack-trailer", pack.id]]);
    const repaired = await repairIndex(repo);
    expect(repaired.salvaged).toMatchObject([{ pack: pack.id, blobsRecovered: 2, blobsLost: [] }]);
    expect((await checkRepository(heldRepository(repo), { readData: { kind: "all" } })).findings).toEqual([]);
  });

  it("absurd declared lengths in a footer or trailer are refused", () => {
    const footer = Buffer.alloc(PACK_FOOTER_BYTES);
    footer.writeUInt32LE(0xfffffff0, 0);
    footer.write("CAIRNPK1", 4, "ascii");
    expect(() => parseFooter("p", footer, 1000)).toThrow(/impossible/);
    const trailer = Buffer.alloc(42);
    trailer.writeUInt32LE(0xffffffff, 6);
    expect(() => parseTrailer("p", trailer, 42 + PACK_FOOTER_BYTES)).toThrow(/absurd length/);
  });

  it("decompression is bounded by the declared plaintext length: a zstd bomb costs nothing", () => {
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const frame = Buffer.alloc(binding.compressBound(zeros.length));
    const bomb = frame.subarray(0, binding.compress(frame, zeros, 3));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const rss = process.memoryUsage().rss;
    expect(() => decodeBlob(hashBytes(Buffer.alloc(100)), bomb, 1, 100)).toThrow(IntegrityError);
    expect(process.memoryUsage().rss - rss).toBeLessThan(32 * 1024 * 1024);
    expect(() => decodeBlob("c".repeat(64), bomb, 1, 2 ** 40)).toThrow(/absurd/);
  });
});

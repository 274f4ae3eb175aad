// dump: a file byte for byte, a directory as a tar stream with its metadata, damage as an error.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import * as tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntegrityError } from "../../src/errors.js";
import { writeXattrs } from "../../src/platform/xattrs.js";
import { dump } from "../../src/restore/dump.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let snapshot: StoredSnapshot;
const BIG = randomBytes(3 * 1024 * 1024 + 12345);
const LONG_NAME = "n".repeat(150) + ".txt";
const MTIME = new Date("2024-02-29T12:34:56.789Z");

beforeAll(async () => {
  // Small chunks, so the big file is many blobs.
  t = await createTestRepository({ chunker: { minSize: 64 * 1024, avgSize: 128 * 1024, maxSize: 256 * 1024 } });
  src = join(t.work, "src");
  await writeTree(src, { "big.bin": BIG, "sub/small.txt": "small\n", [`sub/${LONG_NAME}`]: "long\n", "empty": "" });
  await fs.chmod(join(src, "sub/small.txt"), 0o640);
  await fs.utimes(join(src, "sub/small.txt"), MTIME, MTIME);
  await fs.symlink("../big.bin", join(src, "sub/link"));
  await fs.link(join(src, "sub/small.txt"), join(src, "sub/hard.txt"));
  writeXattrs(Buffer.from(join(src, "sub/small.txt")), [
    { name: "user.bin", value: Buffer.from([0xff, 0x00, 0x80]) },
    { name: "user.text", value: Buffer.from("héllo") },
  ]);
  snapshot = await backup(t.repo, [src]);
});

afterAll(async () => {
  await t?.cleanup();
});

async function dumpToBuffer(path: string): Promise<{ kind: string; bytes: Buffer; skipped: string[] }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  const skipped: string[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const kind = await dump(t.repo, snapshot.tree, path, out, { onSkip: (p, reason) => skipped.push(`${p}: ${reason}`) });
  return { kind, bytes: Buffer.concat(chunks), skipped };
}

interface TarEntry {
  header: tar.Header;
  pax: Record<string, string> | undefined;
  content: Buffer;
}

async function readTar(bytes: Buffer): Promise<TarEntry[]> {
  const extract = tar.extract();
  const entries: TarEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      entries.push({ header: entry.header, pax: (entry.header as tar.Header & { pax?: Record<string, string> }).pax, content: Buffer.concat(chunks) });
    }
  })();
  extract.end(bytes);
  await done;
  return entries;
}

describe("dump", () => {
  it("writes a many-blob file byte for byte", async () => {
    const { kind, bytes } = await dumpToBuffer(`${src}/big.bin`);
    expect(kind).toBe("file");
    expect(bytes.equals(BIG)).toBe(true);
    expect((await dumpToBuffer(`${src}/empty`)).bytes.length).toBe(0);
  });

  it("writes a directory as tar: names relative to its parent, modes, times, owners, links", async () => {
    const { kind, bytes, skipped } = await dumpToBuffer(`${src}/sub`);
    expect(kind).toBe("tar");
    const entries = await readTar(bytes);
    const byName = new Map(entries.map((e) => [e.header.name, e]));
    expect(entries.map((e) => e.header.name)).toEqual(["sub/", "sub/hard.txt", "sub/link", `sub/${LONG_NAME}`, "sub/small.txt"]);
    const small = byName.get("sub/small.txt")!;
    const hard = byName.get("sub/hard.txt")!;
    // hard.txt sorts first, so it carries the data and small.txt links to it.
    expect(hard.header).toMatchObject({ type: "file", mode: 0o640, size: 6, uid: process.getuid!(), gid: process.getgid!() });
    expect(hard.content.toString()).toBe("small\n");
    expect(small.header).toMatchObject({ type: "link", linkname: "sub/hard.txt" });
    expect(hard.header.mtime.getTime()).toBe(Math.floor(MTIME.getTime() / 1000) * 1000);
    expect(hard.pax?.mtime).toBe("1709210096.789");
    expect(byName.get("sub/link")!.header).toMatchObject({ type: "symlink", linkname: "../big.bin" });
    // A name past tar's 100 bytes survives through a pax record.
    expect(byName.get(`sub/${LONG_NAME}`)!.content.toString()).toBe("long\n");
    expect(byName.get("sub/")!.header.type).toBe("directory");
    // Extended attributes travel as pax records, a binary value byte for byte (tar-stream's reader would decode it as text).
    expect(hard.pax?.["SCHILY.xattr.user.text"]).toBe("héllo");
    expect(bytes.includes(Buffer.concat([Buffer.from(" SCHILY.xattr.user.bin="), Buffer.from([0xff, 0x00, 0x80]), Buffer.from("\n")]))).toBe(true);
    expect(skipped).toEqual([]);
  });

  it("writes the whole snapshot from / with paths relative to the root", async () => {
    const entries = await readTar((await dumpToBuffer("/")).bytes);
    const names = entries.map((e) => e.header.name);
    const rel = src.slice(1);
    expect(names).toContain(`${rel}/big.bin`);
    expect(entries.find((e) => e.header.name === `${rel}/big.bin`)!.content.equals(BIG)).toBe(true);
    expect(names.every((n) => !n.startsWith("/"))).toBe(true);
  });

  it("ends with an error, not wrong bytes, when a blob is damaged", async () => {
    const dataDir = join(t.repoPath, "data");
    const packs: string[] = [];
    for (const sub of await fs.readdir(dataDir)) for (const f of await fs.readdir(join(dataDir, sub))) packs.push(join(dataDir, sub, f));
    const bigPack = (await Promise.all(packs.map(async (p) => ({ p, size: (await fs.stat(p)).size })))).sort((a, b) => b.size - a.size)[0]!.p;
    const bytes = await fs.readFile(bigPack);
    const original = Buffer.from(bytes);
    bytes[1000] = bytes[1000]! ^ 0xff;
    await fs.chmod(bigPack, 0o600);
    await fs.writeFile(bigPack, bytes);
    try {
      await expect(dumpToBuffer(`${src}/big.bin`)).rejects.toThrow(IntegrityError);
      await expect(dumpToBuffer(`${src}`)).rejects.toThrow(IntegrityError);
    } finally {
      await fs.writeFile(bigPack, original);
    }
  });
});

describe("dump: what tar-stream could not write", () => {
  const BAD_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "bad\xff.txt"
  const BAD_TARGET = Buffer.from([0x74, 0x67, 0x74, 0xfe]); // "tgt\xfe"
  // Past ustar's 100 bytes, so the name travels in a pax path record.
  const LONG_BAD_NAME = Buffer.concat([Buffer.from([0xff]), Buffer.from("l".repeat(150))]);
  // 1960-05-06T07:08:09.987654321Z is -304707110.012345679 seconds from the epoch.
  const OLD_MTIME = "1960-05-06T07:08:09.987654321Z";
  const OLD_NS = -304_707_110_012_345_679n;

  it("keeps mode 0, names and link targets that are not UTF-8, and pre-1970 fractional times", async () => {
    const base = { uid: process.getuid!(), gid: process.getgid!(), mtime: "2024-01-01T00:00:00Z" };
    const file = async (name: string | Buffer, content: string, extra: Partial<TreeNode> = {}): Promise<TreeNode> => {
      const id = (await t.repo.saveBlob("data", Buffer.from(content))).id;
      const names = typeof name === "string" ? { name } : { name: name.toString("utf8"), nameRaw: name };
      return { ...base, ...names, type: "file", mode: 0o644, size: content.length, content: [id], ...extra };
    };
    const inner = await t.repo.saveTree([
      await file(BAD_NAME, "bad\n"),
      await file(LONG_BAD_NAME, "long\n"),
      await file("old", "old\n", { mtime: OLD_MTIME }),
      await file("zero", "zero\n", { mode: 0 }),
      { ...base, name: "closed", type: "dir", mode: 0, subtree: await t.repo.saveTree([]) },
      { ...base, name: "link", type: "symlink", mode: 0o777, linkTarget: BAD_TARGET.toString("utf8"), linkTargetRaw: BAD_TARGET },
    ]);
    const root = await t.repo.saveTree([{ ...base, name: "top", type: "dir", mode: 0o755, subtree: inner }]);
    await t.repo.flush();

    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    await dump(t.repo, root, "/top", out);
    const archive = join(t.work, "exact.tar");
    await fs.writeFile(archive, Buffer.concat(chunks));
    // The time in the decimal form POSIX gives pax times, which GNU tar and Python both read.
    expect(Buffer.concat(chunks).includes(" mtime=-304707110.012345679\n")).toBe(true);

    // GNU tar, reading independently, recreates every byte, mode and time, and warns about
    // nothing but the pre-1970 time it always remarks on.
    const into = join(t.work, "exact");
    await fs.mkdir(into);
    const tar = spawnSync("tar", ["--warning=no-timestamp", "-xf", archive, "-C", into], { encoding: "utf8" });
    expect(tar.stderr).toBe("");
    expect(tar.status).toBe(0);
    const top = Buffer.from(join(into, "top"));
    const at = (name: string | Buffer) => Buffer.concat([top, Buffer.from("/"), Buffer.from(name)]);
    const names = (await fs.readdir(top, { encoding: "buffer" })).map((n) => n.toString("hex")).sort();
    expect(names).toEqual([BAD_NAME, LONG_BAD_NAME, "closed", "link", "old", "zero"].map((n) => Buffer.from(n).toString("hex")).sort());
    expect((await fs.readFile(at(BAD_NAME))).toString()).toBe("bad\n");
    expect((await fs.readFile(at(LONG_BAD_NAME))).toString()).toBe("long\n");
    expect(await fs.readlink(at("link"), { encoding: "buffer" })).toEqual(BAD_TARGET);
    expect((await fs.lstat(at("zero"))).mode & 0o7777).toBe(0);
    expect((await fs.lstat(at("closed"))).mode & 0o7777).toBe(0);
    expect((await fs.lstat(at("old"), { bigint: true })).mtimeNs).toBe(OLD_NS);
  });
});

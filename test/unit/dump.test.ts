// dump: a file byte for byte, a directory as a tar stream with its metadata, damage as an error.
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
    expect(hard.pax?.mtime).toBe("1709210096.789000000");
    expect(byName.get("sub/link")!.header).toMatchObject({ type: "symlink", linkname: "../big.bin" });
    // A name past tar's 100 bytes survives through a pax record.
    expect(byName.get(`sub/${LONG_NAME}`)!.content.toString()).toBe("long\n");
    expect(byName.get("sub/")!.header.type).toBe("directory");
    // Text extended attributes travel as pax records; a binary one is reported, not mangled.
    expect(hard.pax?.["SCHILY.xattr.user.text"]).toBe("héllo");
    expect(hard.pax?.["SCHILY.xattr.user.bin"]).toBeUndefined();
    expect(skipped).toEqual([`${src}/sub/hard.txt: extended attribute user.bin has a binary value, which this tar writer cannot store`]);
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

// Every node type and every piece of metadata survives backup + restore (CI runs as root).
import { execFileSync } from "node:child_process";
import type { BigIntStats } from "node:fs";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { setFileTimes } from "../../src/platform/file-times.js";
import { makeSpecialFile } from "../../src/platform/special-files.js";
import { readXattrs, writeXattrs } from "../../src/platform/xattrs.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { walkTree } from "../../src/store/tree/tree-walker.js";
import { runCairn } from "../support/cli.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";

const asRoot = process.getuid?.() === 0;
const MIB = 1024 * 1024;

let work: string;
let src: string;
let out: string;
let repo: Repository;
let nodes: Map<string, TreeNode>;
let snapshotTree: string;
let socketServer: net.Server;

const b = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
const lst = (p: string | Buffer) => fs.lstat(p, { bigint: true });
const restored = (rel: string | Buffer) => b(out, src, "/", rel);
const BAD_NAME = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]); // "f\xff\xfe.txt": not UTF-8
const BAD_TARGET = Buffer.from([0x2e, 0x2f, 0xc3, 0x28]); // "./\xc3(": not UTF-8
const DEEP_NAME = "d".repeat(200);
const DEEP_LEVELS = 25; // 25 x 201 bytes: far past PATH_MAX (4096)

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-meta-"));
  src = join(work, "src");
  out = join(work, "out");
  await fs.mkdir(src);

  await fs.writeFile(join(src, "plain"), "plain file\n");
  await fs.writeFile(join(src, "setuid"), "#!/bin/sh\n");
  await fs.chmod(join(src, "setuid"), 0o4755);
  await fs.writeFile(join(src, "setgid"), "x");
  await fs.chmod(join(src, "setgid"), 0o2750);
  await fs.mkdir(join(src, "sticky"));
  await fs.chmod(join(src, "sticky"), 0o1777);
  await fs.writeFile(join(src, "private"), "secret");
  await fs.chmod(join(src, "private"), 0o600);

  await fs.symlink("plain", join(src, "link"));
  await fs.symlink("/nonexistent/dangling", join(src, "dangling"));
  await makeSpecialFile(Buffer.from(join(src, "fifo")), "fifo", 0o640);
  socketServer = net.createServer();
  await new Promise<void>((resolve) => socketServer.listen(join(src, "socket"), resolve));
  if (asRoot) {
    await makeSpecialFile(Buffer.from(join(src, "null")), "chardev", 0o666, 0x103); // 1:3, like /dev/null
    await makeSpecialFile(Buffer.from(join(src, "loop")), "blockdev", 0o660, 0x700); // 7:0
    await fs.writeFile(join(src, "owned"), "owned");
    await fs.lchown(join(src, "owned"), 65534, 65534);
    await fs.lchown(join(src, "link"), 1234, 4321);
  }

  await fs.writeFile(join(src, "times"), "t");
  await setFileTimes(Buffer.from(join(src, "times")), 1_600_000_000_987_654_321n, 1_700_000_000_123_456_789n);

  await fs.writeFile(join(src, "linked-a"), "same inode\n");
  await fs.link(join(src, "linked-a"), join(src, "linked-b"));

  const sparse = await fs.open(join(src, "sparse"), "w");
  await sparse.write(Buffer.from("head"), 0, 4, 0);
  await sparse.write(Buffer.from("tail"), 0, 4, 64 * MIB);
  await sparse.close();

  await fs.writeFile(join(src, "xattrs"), "x");
  writeXattrs(Buffer.from(join(src, "xattrs")), [
    { name: "user.text", value: Buffer.from("hello") },
    { name: "user.binary", value: Buffer.from([0, 1, 2, 255]) },
    { name: "user.empty", value: Buffer.alloc(0) },
  ]);
  writeXattrs(Buffer.from(join(src, "sticky")), [{ name: "user.dir", value: Buffer.from("on a directory") }]);
  // POSIX ACLs are extended attributes too (system.posix_acl_access / _default).
  await fs.writeFile(join(src, "acl-file"), "acl");
  execFileSync("setfacl", ["-m", "u:1234:r--,g:4321:rw-", join(src, "acl-file")]);
  await fs.mkdir(join(src, "acl-dir"));
  execFileSync("setfacl", ["-d", "-m", "u:1234:rwx", join(src, "acl-dir")]);

  await fs.writeFile(b(src, "/", BAD_NAME), "odd name");
  await fs.symlink(BAD_TARGET, b(src, "/odd-target"));
  await fs.mkdir(b(src, "/", BAD_NAME, ".d"));
  await makeSpecialFile(b(src, "/", BAD_NAME, ".d/", BAD_NAME), "fifo", 0o600);

  // Deep tree: built with relative paths, as nothing longer than PATH_MAX can be named whole.
  execFileSync("bash", ["-c", `cd "$1" && for i in $(seq ${DEEP_LEVELS}); do mkdir ${DEEP_NAME} && cd ${DEEP_NAME} || exit 1; done; echo bottom > bottom.txt`, "sh", src]);

  await initLocalRepository(join(work, "repo"));
  repo = await openLocalRepository(join(work, "repo"));
  const result = await runBackup(repo, { sources: [new PathSource(src)] });
  expect(result.warnings).toEqual([]);
  nodes = new Map();
  for await (const entry of walkTree(repo, result.snapshot.tree, { start: src })) nodes.set(entry.path.slice(src.length + 1), entry.node);
  snapshotTree = result.snapshot.tree;
  const restore = await restoreSnapshot(repo, result.snapshot.tree, { target: out });
  expect(restore.problems).toEqual([]);
  expect(restore.damaged).toEqual([]);
}, 60_000);

afterAll(async () => {
  socketServer?.close();
  await repo?.close();
  // rm cannot remove the deep tree by absolute path either; remove its top by relative steps.
  if (work) execFileSync("bash", ["-c", `for d in "$1/src" "$1/out$1/src" "$1/rounds$1/src" "$1/cli$1/src"; do [ -d "$d" ] && (cd "$d" && rm -rf ${DEEP_NAME}); done; rm -rf "$1"`, "sh", work]);
});

function expectSameMetadata(before: BigIntStats, after: BigIntStats): void {
  expect(after.mode).toBe(before.mode);
  expect(after.uid).toBe(before.uid);
  expect(after.gid).toBe(before.gid);
  expect(after.mtimeNs).toBe(before.mtimeNs);
}

describe("node types", () => {
  it("stores each type and restores it as that type", async () => {
    const types = Object.fromEntries(["plain", "sticky", "link", "fifo", "socket"].map((n) => [n, nodes.get(n)?.type]));
    expect(types).toEqual({ plain: "file", sticky: "dir", link: "symlink", fifo: "fifo", socket: "socket" });
    expect((await lst(restored("plain"))).isFile()).toBe(true);
    expect((await lst(restored("sticky"))).isDirectory()).toBe(true);
    expect((await lst(restored("link"))).isSymbolicLink()).toBe(true);
    expect((await lst(restored("fifo"))).isFIFO()).toBe(true);
    expect(await fs.readFile(restored("plain"), "utf8")).toBe("plain file\n");
  });

  it("restores symlinks with their exact targets, dangling ones too", async () => {
    expect(await fs.readlink(restored("link"))).toBe("plain");
    expect(await fs.readlink(restored("dangling"))).toBe("/nonexistent/dangling");
  });

  it("records a socket but does not recreate it (nothing listens on it after a restore)", async () => {
    await expect(lst(restored("socket"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it.skipIf(!asRoot)("restores character and block devices with their device numbers (root only)", async () => {
    const chr = await lst(restored("null"));
    const blk = await lst(restored("loop"));
    expect(chr.isCharacterDevice()).toBe(true);
    expect(chr.rdev).toBe((await lst(join(src, "null"))).rdev);
    expect(blk.isBlockDevice()).toBe(true);
    expect(blk.rdev).toBe((await lst(join(src, "loop"))).rdev);
    expect(nodes.get("null")!.rdev).toBe(0x103);
  });
});

describe("metadata", () => {
  it("keeps mode bits including setuid, setgid and sticky", async () => {
    for (const name of ["setuid", "setgid", "sticky", "private", "fifo"]) {
      expect({ name, mode: (await lst(restored(name))).mode }).toEqual({ name, mode: (await lst(join(src, name))).mode });
    }
    expect(nodes.get("setuid")!.mode).toBe(0o4755);
    expect(nodes.get("setgid")!.mode).toBe(0o2750);
    expect(nodes.get("sticky")!.mode).toBe(0o1777);
  });

  it.skipIf(!asRoot)("restores owner and group as root, and records their names", async () => {
    expectSameMetadata(await lst(join(src, "owned")), await lst(restored("owned")));
    expect((await lst(restored("owned"))).uid).toBe(65534n);
    expect((await lst(restored("link"))).uid).toBe(1234n);
    expect((await lst(restored("link"))).gid).toBe(4321n);
    expect(nodes.get("owned")!.user).toBe("nobody");
    expect(nodes.get("plain")!.user).toBe("root");
    expect(nodes.get("plain")!.group).toBe("root");
  });

  it("stores mtime, atime and ctime to the nanosecond and restores mtime and atime exactly", async () => {
    const node = nodes.get("times")!;
    expect(node.mtime).toBe("2023-11-14T22:13:20.123456789Z");
    expect(node.atime).toBe("2020-09-13T12:26:40.987654321Z");
    expect(node.ctime).toMatch(/\.\d{9}Z$/);
    const after = await lst(restored("times"));
    expect(after.mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(after.atimeNs).toBe(1_600_000_000_987_654_321n);
  });

  it("restores directory and symlink modification times", async () => {
    expect((await lst(restored("sticky"))).mtimeNs).toBe((await lst(join(src, "sticky"))).mtimeNs);
    expect((await lst(restored("link"))).mtimeNs).toBe((await lst(join(src, "link"))).mtimeNs);
  });

  it("does not move the atime of the files it reads", async () => {
    await setFileTimes(Buffer.from(join(src, "plain")), 1_500_000_000_000_000_001n, 1_500_000_000_000_000_001n);
    const before = await lst(join(src, "plain"));
    const result = await runBackup(repo, { sources: [new PathSource(join(src, "plain"))], changeDetection: { force: true } });
    expect(result.counters.filesRead).toBe(1);
    expect((await lst(join(src, "plain"))).atimeNs).toBe(before.atimeNs);
  });

  it("restores hard links as hard links", async () => {
    const a = await lst(restored("linked-a"));
    const bStat = await lst(restored("linked-b"));
    expect(a.ino).toBe(bStat.ino);
    expect(a.nlink).toBe(2n);
    expect(await fs.readFile(restored("linked-b"), "utf8")).toBe("same inode\n");
  });

  it("restores holes as holes", async () => {
    const st = await lst(restored("sparse"));
    expect(st.size).toBe(BigInt(64 * MIB + 4));
    expect(Number(st.blocks) * 512).toBeLessThan(MIB);
    const handle = await fs.open(restored("sparse"));
    const tail = Buffer.alloc(4);
    await handle.read(tail, 0, 4, 64 * MIB);
    await handle.close();
    expect(tail.toString()).toBe("tail");
    const du = execFileSync("du", ["-k", restored("sparse").toString()]).toString();
    expect(Number(du.split("\t")[0])).toBeLessThan(1024);
  });

  it("stores and restores extended attributes, binary and empty values included", async () => {
    const expected = [
      { name: "user.binary", value: Buffer.from([0, 1, 2, 255]) },
      { name: "user.empty", value: Buffer.alloc(0) },
      { name: "user.text", value: Buffer.from("hello") },
    ];
    expect(nodes.get("xattrs")!.xattrs).toEqual(expected);
    expect(readXattrs(restored("xattrs"))).toEqual(expected);
    expect(readXattrs(restored("sticky"))).toEqual([{ name: "user.dir", value: Buffer.from("on a directory") }]);
    expect(nodes.get("plain")!.xattrs).toBeUndefined();
    expect(execFileSync("getfattr", ["--only-values", "-n", "user.text", restored("xattrs").toString()]).toString()).toBe("hello");
  });

  it("stores and restores POSIX ACLs, access and default", async () => {
    const acl = (path: string) => execFileSync("getfacl", ["--omit-header", "--numeric", path]).toString();
    expect(acl(restored("acl-file").toString())).toBe(acl(join(src, "acl-file")));
    expect(acl(restored("acl-file").toString())).toContain("user:1234:r--");
    expect(acl(restored("acl-dir").toString())).toBe(acl(join(src, "acl-dir")));
    expect(acl(restored("acl-dir").toString())).toContain("default:user:1234:rwx");
  });
});

describe("names", () => {
  it("round-trips names and link targets that are not valid UTF-8, byte for byte", async () => {
    const names = await fs.readdir(b(out, src), { encoding: "buffer" });
    expect(names.some((n) => n.equals(BAD_NAME))).toBe(true);
    expect(await fs.readFile(b(out, src, "/", BAD_NAME), "utf8")).toBe("odd name");
    expect((await fs.readlink(b(out, src, "/odd-target"), { encoding: "buffer" })).equals(BAD_TARGET)).toBe(true);
    expect((await lst(b(out, src, "/", BAD_NAME, ".d/", BAD_NAME))).isFIFO()).toBe(true);
    const node = [...nodes.values()].find((n) => n.nameRaw?.equals(BAD_NAME) && n.type === "file");
    expect(node).toBeDefined();
  });

  it("backs up and restores a tree deeper than PATH_MAX", () => {
    const deep = (root: string) => execFileSync("bash", ["-c", `cd "$1" && for i in $(seq ${DEEP_LEVELS}); do cd ${DEEP_NAME} || exit 1; done; cat bottom.txt; pwd | wc -c`, "sh", root]).toString();
    const [content, length] = deep(join(out, src)).trim().split("\n");
    expect(content).toBe("bottom");
    expect(Number(length)).toBeGreaterThan(5000);
  });
});

/** Every entry under `root`, with its type, mode, owner, size, mtime, link count and link target; then every regular file's SHA-256. */
const listing = (root: string) =>
  execFileSync("bash", ["-c", `cd "$1" && find . -printf '%P|%y|%m|%U|%G|%s|%T@|%n|%l\\n' | LC_ALL=C sort && find . -name ${DEEP_NAME} -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`, "sh", root]).toString();

describe("rounds", () => {
  it("restores the same tree when file contents are written a few files at a time, and verifies each round", async () => {
    const rounds = join(work, "rounds");
    const result = await restoreSnapshot(repo, snapshotTree, { target: rounds, filesPerRound: 2, verify: true });
    expect(result.problems).toEqual([]);
    expect(result.damaged).toEqual([]);
    expect(result.mismatches).toEqual([]);
    expect(result.verified).toBeGreaterThan(10);
    const expected = listing(join(out, src));
    expect(expected).toContain("linked-b|f|");
    expect(listing(join(rounds, src))).toBe(expected);
  });
});

describe("through the command", () => {
  it("restores the same tree and metadata with its writer thread as the library does inline", async () => {
    // The command runs the compiled restore, whose writer thread writes each file and sets its metadata.
    const cli = join(work, "cli");
    const snapshots = await repo.listSnapshots();
    await repo.close();
    try {
      const run = await runCairn(["-r", join(work, "repo"), "restore", "-q", snapshots[0]!.id, "--target", cli]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
    } finally {
      repo = await openLocalRepository(join(work, "repo"));
    }
    // Before anything reads it: reading moves an atime older than the mtime.
    expect((await lst(b(cli, src, "/times"))).atimeNs).toBe(1_600_000_000_987_654_321n);
    for (const name of ["xattrs", "acl-file", "acl-dir", "sticky"]) expect(readXattrs(b(cli, src, "/", name))).toEqual(readXattrs(restored(name)));
    const expected = listing(join(out, src));
    expect(expected).toContain("setuid|f|4755|");
    expect(listing(join(cli, src))).toBe(expected);
  });
});

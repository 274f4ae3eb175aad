// Change detection against the parent snapshot: unchanged files are never opened.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup, type BackupOptions, type BackupResult } from "../../src/backup/archiver.js";
import { isUnchanged, racyTimes, xattrsUnchanged } from "../../src/backup/change-detection.js";
import { PathSource } from "../../src/backup/path-source.js";
import { writeXattrs } from "../../src/platform/xattrs.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";
import { findNode, walkTree } from "../../src/store/tree/tree-walker.js";
import { pastClockTick } from "../support/clock-tick.js";

const FILES = 20_000;
const DIRS = 100;

let work: string;
let src: string;
let repo: Repository;
let first: BackupResult;
let firstSnapshot: StoredSnapshot;

function filePath(i: number): string {
  return join(src, `d${i % DIRS}`, `f${i}.txt`);
}

async function backup(parent: StoredSnapshot | undefined, extra: Partial<BackupOptions> = {}): Promise<BackupResult> {
  const result = await runBackup(repo, { sources: [new PathSource(src)], ...(parent ? { parent } : {}), ...extra });
  expect(result.warnings).toEqual([]);
  return result;
}

async function latest(): Promise<StoredSnapshot> {
  const all = await repo.listSnapshots();
  return all[all.length - 1]!;
}

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-change-"));
  src = join(work, "src");
  for (let d = 0; d < DIRS; d++) await fs.mkdir(join(src, `d${d}`), { recursive: true });
  for (let i = 0; i < FILES; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => fs.writeFile(filePath(i + j), `file ${i + j}\n`)));
  }
  await initLocalRepository(join(work, "repo"));
  repo = await openLocalRepository(join(work, "repo"));
  await pastClockTick();
  first = await backup(undefined);
  firstSnapshot = await latest();
}, 120_000);

afterAll(async () => {
  await repo?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe("a second backup of an unchanged tree", () => {
  it("reads every file the first time", () => {
    expect(first.snapshot.summary).toMatchObject({ filesNew: FILES, filesRead: FILES, filesUnmodified: 0, dirsNew: DIRS + 1 });
  });

  it("opens no file, reuses every directory tree and adds nothing", async () => {
    const second = await backup(firstSnapshot);
    expect(second.snapshot.summary).toMatchObject({
      filesRead: 0,
      filesUnmodified: FILES,
      filesNew: 0,
      filesChanged: 0,
      dirsUnmodified: DIRS + 1,
      dirsChanged: 0,
      dataBlobs: 0,
      totalFilesProcessed: FILES,
    });
    // The directories above src (e.g. /tmp) change all the time; src's own tree must not.
    const srcTree = async (r: BackupResult) => (await findNode(repo, r.snapshot.tree, src))!.subtree;
    expect(await srcTree(second)).toBe(await srcTree(first));
  });

  it("asks the index no blob of a tree a backup wrote or checked: one key per directory", async () => {
    const hasBlobs = repo.hasBlobs.bind(repo);
    let asked = 0;
    repo.hasBlobs = (ids) => {
      asked += ids.length;
      return hasBlobs(ids);
    };
    try {
      await fs.writeFile(join(src, "d3", "new.txt"), "new\n");
      await pastClockTick();
      const written = await backup(await latest());
      expect(written.snapshot.summary).toMatchObject({ filesNew: 1, dirsChanged: 2 });
      asked = 0;
      const again = await backup(await latest());
      expect(again.snapshot.summary).toMatchObject({ filesRead: 0, filesUnmodified: FILES + 1 });
      expect(asked).toBe(0);
    } finally {
      repo.hasBlobs = hasBlobs;
      await fs.rm(join(src, "d3", "new.txt"));
      await backup(await latest());
    }
  });

  it("re-reads only the one file that changed", async () => {
    await fs.appendFile(filePath(1234), "more\n");
    const third = await backup(await latest());
    expect(third.snapshot.summary).toMatchObject({ filesRead: 1, filesChanged: 1, filesUnmodified: FILES - 1, dirsChanged: 2, dirsUnmodified: DIRS - 1 });
  });

  it("re-reads everything with --force", async () => {
    const forced = await backup(await latest(), { changeDetection: { force: true } });
    expect(forced.snapshot.summary).toMatchObject({ filesRead: FILES, dataBlobs: 0 });
  });

  it("re-reads a file whose ctime changed, unless told to ignore ctime", async () => {
    await fs.chmod(filePath(42), 0o640);
    const parent = await latest();
    expect((await backup(parent, { changeDetection: { ignoreCtime: true } })).snapshot.summary!.filesRead).toBe(0);
    expect((await backup(parent)).snapshot.summary!.filesRead).toBe(1);
  });

  it("records a metadata-only change of a reused file in a new tree", async () => {
    // With --ignore-ctime a chmod leaves the file unchanged for change detection: its content
    // is reused unread, but the directory must not be taken as the parent's tree.
    await fs.chmod(filePath(88), 0o600);
    const result = await backup(await latest(), { changeDetection: { ignoreCtime: true } });
    expect(result.snapshot.summary).toMatchObject({ filesRead: 0, dirsChanged: 2, dirsUnmodified: DIRS - 1 });
    expect((await findNode(repo, result.snapshot.tree, filePath(88)))!.mode).toBe(0o600);
  });

  it("does not take a parent tree it could not read for an unchanged directory", async () => {
    const dir = join(src, "emptied");
    await fs.mkdir(dir);
    await fs.writeFile(join(dir, "a"), "a");
    const before = await backup(await latest());
    const oldTree = (await findNode(repo, before.snapshot.tree, dir))!.subtree!;
    await fs.rm(join(dir, "a"));
    const loadTree = repo.loadTree.bind(repo);
    repo.loadTree = (id) => (id === oldTree ? Promise.reject(new Error("unreadable")) : loadTree(id));
    try {
      const after = await backup(await latest());
      const subtree = (await findNode(repo, after.snapshot.tree, dir))!.subtree!;
      expect(subtree).not.toBe(oldTree);
      expect(await loadTree(subtree)).toEqual([]);
    } finally {
      repo.loadTree = loadTree;
      await fs.rm(dir, { recursive: true });
    }
  });

  it("keeps an unchanged file's extended attributes and sees a changed one's", async () => {
    const target = filePath(77);
    writeXattrs(Buffer.from(target), [{ name: "user.tag", value: Buffer.from("one") }]);
    await pastClockTick();
    const xattrsIn = async (r: BackupResult) => (await findNode(repo, r.snapshot.tree, target))!.xattrs;
    const tagged = await backup(await latest());
    expect(await xattrsIn(tagged)).toEqual([{ name: "user.tag", value: Buffer.from("one") }]);
    const unchanged = await backup(await latest());
    expect(unchanged.snapshot.summary!.filesRead).toBe(0);
    expect(await xattrsIn(unchanged)).toEqual([{ name: "user.tag", value: Buffer.from("one") }]);
    // Only the attribute changes (same size, mtime and content): the ctime moves, so it is listed again.
    writeXattrs(Buffer.from(target), [{ name: "user.tag", value: Buffer.from("two") }]);
    await pastClockTick();
    expect(await xattrsIn(await backup(await latest()))).toEqual([{ name: "user.tag", value: Buffer.from("two") }]);
  });

  it("re-reads a file whose content blobs are no longer in the index", async () => {
    const parent = await latest();
    const hasBlob = repo.hasBlob.bind(repo);
    const hasBlobs = repo.hasBlobs.bind(repo);
    const isCompleteTree = repo.isCompleteTree.bind(repo);
    const lost = new Set<string>();
    repo.hasBlob = (id) => !lost.has(id) && hasBlob(id);
    repo.hasBlobs = async (ids) => (await hasBlobs(ids)).map((present, i) => present && !lost.has(ids[i]!));
    // Blobs leave the index database only when it is cleared, and the complete-tree marks with them.
    repo.isCompleteTree = () => false;
    try {
      for await (const { path, node } of walkTree(repo, parent.tree)) if (path.endsWith("/f7.txt")) node.content!.forEach((id) => lost.add(id));
      expect(lost.size).toBeGreaterThan(0);
      expect((await backup(parent)).snapshot.summary!.filesRead).toBe(1);
    } finally {
      repo.hasBlob = hasBlob;
      repo.hasBlobs = hasBlobs;
      repo.isCompleteTree = isCompleteTree;
    }
  });
});

describe("isUnchanged", () => {
  const base: TreeNode = { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "2024-01-01T00:00:00.000000001Z", ctime: "2024-01-01T00:00:00.000000002Z", inode: 7, size: 10, content: [] };
  const all = { force: false, ignoreInode: false, ignoreCtime: false };

  it("trusts a file whose type, size, mtime, ctime and inode all match", () => {
    expect(isUnchanged({ ...base }, base, all)).toBe(true);
  });

  it("distrusts any difference in size, mtime, ctime or inode, or a different type", () => {
    expect(isUnchanged({ ...base, size: 11 }, base, all)).toBe(false);
    expect(isUnchanged({ ...base, mtime: "2024-01-01T00:00:00.000000003Z" }, base, all)).toBe(false);
    expect(isUnchanged({ ...base, ctime: "2024-01-01T00:00:00.000000003Z" }, base, all)).toBe(false);
    expect(isUnchanged({ ...base, inode: 8 }, base, all)).toBe(false);
    expect(isUnchanged({ ...base }, { ...base, type: "symlink" }, all)).toBe(false);
    expect(isUnchanged({ ...base }, undefined, all)).toBe(false);
  });

  it("honours --ignore-inode, --ignore-ctime and --force", () => {
    expect(isUnchanged({ ...base, inode: 8 }, base, { ...all, ignoreInode: true })).toBe(true);
    expect(isUnchanged({ ...base, ctime: "2025-01-01T00:00:00Z" }, base, { ...all, ignoreCtime: true })).toBe(true);
    expect(isUnchanged({ ...base }, base, { ...all, force: true })).toBe(false);
  });

  it("distrusts a file changed within a clock tick of the parent backup's start, or after it", () => {
    // The parent backup began at 12:00:00.500; a write in the tick in which it read a file leaves the times as they were.
    const racy = racyTimes(new Date("2024-01-01T12:00:00.500Z"));
    const at = (ctime: string): TreeNode => ({ ...base, ctime });
    for (const ctime of ["2024-01-01T12:00:00.490000000Z", "2024-01-01T12:00:00.500000001Z", "2024-01-01T12:00:07.000000001Z", "+010000-01-01T00:00:00.000000001Z"]) {
      expect(isUnchanged(at(ctime), at(ctime), all, racy)).toBe(false);
      expect(xattrsUnchanged(at(ctime), at(ctime), all, racy)).toBe(false);
    }
    for (const ctime of ["2024-01-01T12:00:00.470000000Z", "2023-12-31T23:59:59.999999999Z", "-000001-01-01T00:00:00.000000001Z"]) {
      expect(isUnchanged(at(ctime), at(ctime), all, racy)).toBe(true);
      expect(xattrsUnchanged(at(ctime), at(ctime), all, racy)).toBe(true);
    }
  });

  it("allows whole seconds (two, for FAT) where the file system's times have no fraction", () => {
    const racy = racyTimes(new Date("2024-01-01T12:00:00.500Z"));
    const at = (ctime: string): TreeNode => ({ ...base, ctime });
    expect(isUnchanged(at("2024-01-01T11:59:59.000000000Z"), at("2024-01-01T11:59:59.000000000Z"), all, racy)).toBe(false);
    expect(isUnchanged(at("2024-01-01T11:59:58.000000000Z"), at("2024-01-01T11:59:58.000000000Z"), all, racy)).toBe(true);
  });

  it("trusts a time later than the parent backup's end (a clock set ahead, a future mtime): it was not stamped while that backup read the file", () => {
    const racy = racyTimes(new Date("2024-01-01T12:00:00.500Z"), new Date("2024-01-01T12:00:10.000Z"));
    const at = (ctime: string): TreeNode => ({ ...base, ctime });
    expect(isUnchanged(at("2024-01-01T12:00:09.999000000Z"), at("2024-01-01T12:00:09.999000000Z"), all, racy)).toBe(false);
    expect(isUnchanged(at("2030-01-01T00:00:00.000000001Z"), at("2030-01-01T00:00:00.000000001Z"), all, racy)).toBe(true);
  });

  it("reads every file once when the parent's start is unknown", () => {
    const racy = racyTimes(undefined);
    expect(isUnchanged({ ...base }, base, all, racy)).toBe(false);
    expect(isUnchanged({ ...base }, base, all, racyTimes(new Date(Number.NaN)))).toBe(false);
  });

  it("judges by the mtime when ctimes are ignored", () => {
    const racy = racyTimes(new Date("2024-01-01T12:00:00.500Z"));
    const node: TreeNode = { ...base, mtime: "2024-01-01T12:00:00.495000000Z", ctime: "2020-01-01T00:00:00.000000001Z" };
    expect(isUnchanged({ ...node }, node, all, racy)).toBe(true);
    expect(isUnchanged({ ...node }, node, { ...all, ignoreCtime: true }, racy)).toBe(false);
  });
});

describe("a file changed just before a backup", () => {
  it("is read again by the next backup, which may have missed a change in the same tick, and then trusted", async () => {
    const dir = join(src, "recent");
    await fs.mkdir(dir);
    try {
      await fs.writeFile(join(dir, "hot.txt"), "version 1\n");
      const right = await backup(await latest());
      expect(right.snapshot.summary!.filesNew).toBe(1);
      const next = await backup(await latest());
      // Read again and found as it was: counted unmodified, as restic counts a node equal to the parent's.
      expect(next.snapshot.summary).toMatchObject({ filesRead: 1, filesUnmodified: FILES + 1, filesChanged: 0 });
      const after = await backup(await latest());
      expect(after.snapshot.summary).toMatchObject({ filesRead: 0, filesUnmodified: FILES + 1 });
    } finally {
      await fs.rm(dir, { recursive: true });
      await backup(await latest());
    }
  });
});

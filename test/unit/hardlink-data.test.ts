// Names recorded with one inode but different data (a file changed while the backup read its
// names, or an inode freed and taken by a new file during the backup): restore and dump link
// only the names that hold the same data, so every name gets its own snapshot bytes.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { snapshotStats } from "../../src/stats/snapshot-stats.js";
import type { Id } from "../../src/store/id.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";
import { createTestRepository, dumpBytes, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let root: Id;

beforeAll(async () => {
  t = await createTestRepository();
  const base = { uid: process.getuid!(), gid: process.getgid!(), mtime: "2026-01-01T00:00:00Z", mode: 0o644, type: "file" as const, links: 2, inode: 77, deviceId: 5 };
  const file = async (name: string, content: string): Promise<TreeNode> => ({ ...base, name, size: content.length, content: [(await t.repo.saveBlob("data", Buffer.from(content))).id] });
  const dir = await t.repo.saveTree([await file("a", "old bytes\n"), await file("b", "new bytes, longer\n"), await file("c", "old bytes\n")]);
  root = await t.repo.saveTree([{ ...base, name: "top", type: "dir", mode: 0o755, links: undefined, inode: undefined, subtree: dir }]);
  await t.repo.flush();
});

afterAll(async () => {
  await t?.cleanup();
});

it("restore links only the names with the same data", async () => {
  const target = join(t.work, "restored");
  const result = await restoreSnapshot(t.repo, root, { target });
  expect(result.problems).toEqual([]);
  const read = (name: string) => fs.readFile(join(target, "top", name), "utf8");
  expect([await read("a"), await read("b"), await read("c")]).toEqual(["old bytes\n", "new bytes, longer\n", "old bytes\n"]);
  const inode = async (name: string) => (await fs.stat(join(target, "top", name))).ino;
  expect(await inode("c")).toBe(await inode("a"));
  expect(await inode("b")).not.toBe(await inode("a"));
});

it("dump writes a link entry only for a name with the same data", async () => {
  const archive = join(t.work, "links.tar");
  await fs.writeFile(archive, await dumpBytes(t.repo, root, "/top"));
  const listing = spawnSync("tar", ["-tvf", archive], { encoding: "utf8" });
  expect(listing.status).toBe(0);
  expect(listing.stdout).toMatch(/top\/c link to top\/a/);
  expect(listing.stdout).not.toMatch(/top\/b link to/);
  const into = join(t.work, "extracted");
  await fs.mkdir(into);
  expect(spawnSync("tar", ["-xf", archive, "-C", into]).status).toBe(0);
  expect(await fs.readFile(join(into, "top", "b"), "utf8")).toBe("new bytes, longer\n");
  expect(await fs.readFile(join(into, "top", "c"), "utf8")).toBe("old bytes\n");
});

it("stats counts the restore size as restore writes it: one copy per distinct data", async () => {
  const snapshot: StoredSnapshot = { id: "0".repeat(64), time: "2026-01-01T00:00:00Z", tree: root, paths: ["/top"], hostname: "h", username: "u", tags: [], programVersion: "test" };
  const stats = await snapshotStats(t.repo, [snapshot]);
  expect(stats.restoreSize).toMatchObject({ files: 3, bytes: "old bytes\n".length + "new bytes, longer\n".length });
});

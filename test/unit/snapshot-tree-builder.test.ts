// Sources place their nodes into one snapshot tree: two that name the same path with different
// contents are refused (the second used to replace the first without a word); the same node
// placed twice is harmless; nothing is stored below a symlink another source stored.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { SnapshotTreeBuilder, syntheticDirNode } from "../../src/backup/snapshot-tree-builder.js";
import { CairnError } from "../../src/errors.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { backup, createTestRepository, writeTree } from "../support/repo-fixture.js";

const dump = (content: string): TreeNode => ({ name: "app.sql", type: "file", mode: 0o600, uid: 0, gid: 0, mtime: "2026-11-25T00:00:00Z", size: 10, content: [content.repeat(64)] });

function builderWithDir(): SnapshotTreeBuilder {
  const tree = new SnapshotTreeBuilder();
  tree.ensureDir(["postgres", "localhost-5432"], (depth) => syntheticDirNode(["postgres", "localhost-5432"][depth]!));
  return tree;
}

it("refuses a second node at the same path with other content", () => {
  const tree = builderWithDir();
  tree.put(["postgres", "localhost-5432"], dump("a"));
  expect(() => tree.put(["postgres", "localhost-5432"], dump("b"))).toThrow(CairnError);
  expect(() => tree.put(["postgres", "localhost-5432"], dump("b"))).toThrow("/postgres/localhost-5432/app.sql is already stored by another source of this backup");
});

it("accepts the same node placed twice", () => {
  const tree = builderWithDir();
  tree.put(["postgres", "localhost-5432"], dump("a"));
  expect(() => tree.put(["postgres", "localhost-5432"], dump("a"))).not.toThrow();
});

it("refuses a path below a symlink that another path of the backup stores as the link (it was dropped without a word)", async () => {
  const t = await createTestRepository();
  try {
    const real = join(t.work, "real");
    await writeTree(real, { "b/f": "data\n" });
    const link = join(t.work, "lnk");
    await fs.symlink(real, link);
    for (const paths of [[link, join(link, "b")], [join(link, "b"), link]]) {
      await expect(backup(t.repo, paths)).rejects.toThrow(`${link} is already stored by another source of this backup as a symlink, so nothing below it can be`);
    }
    // The same through a directory another source stores whole, with the link inside it.
    await expect(backup(t.repo, [t.work, join(link, "b")])).rejects.toThrow(`${link} is already stored by another source of this backup as a symlink, so nothing below it can be`);
    expect(await t.repo.listSnapshots()).toEqual([]);
    // Either path alone is fine: the link as a link, the path below it as the directory it leads to.
    const below = await backup(t.repo, [join(link, "b")]);
    expect((await findNode(t.repo, below.tree, `${link}/b/f`))?.size).toBe(5);
  } finally {
    await t.cleanup();
  }
});

it("refuses to put a file where an earlier source made a directory (it replaced the directory and its contents)", () => {
  const tree = builderWithDir();
  expect(() => tree.put(["postgres"], { ...dump("a"), name: "localhost-5432" })).toThrow("/postgres/localhost-5432 is already stored by another source of this backup");
});

it("a file named twice is read and counted once", async () => {
  const t = await createTestRepository();
  try {
    await writeTree(join(t.work, "src"), { "a.txt": "four" });
    const file = join(t.work, "src", "a.txt");
    const snapshot = await backup(t.repo, [file, join(t.work, "src", ".", "a.txt")]);
    expect(snapshot.summary).toMatchObject({ filesNew: 1, filesRead: 1, totalBytesProcessed: 4 });
  } finally {
    await t.cleanup();
  }
});

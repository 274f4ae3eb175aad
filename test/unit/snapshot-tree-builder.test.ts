// Sources place their nodes into one snapshot tree: two that name the same path with different
// contents are refused (the second used to replace the first without a word); the same node
// placed twice is harmless.
import { expect, it } from "vitest";
import { SnapshotTreeBuilder, syntheticDirNode } from "../../src/backup/snapshot-tree-builder.js";
import { CairnError } from "../../src/errors.js";
import type { TreeNode } from "../../src/store/tree/tree-node.js";

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

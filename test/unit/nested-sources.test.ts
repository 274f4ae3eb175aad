// A backup of a directory and of a path inside it (`backup /a/b /a`, in either order) stores
// the directory once and counts each file once, as restic does.
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
beforeEach(async () => {
  t = await createTestRepository();
  await writeTree(join(t.work, "src"), { "a/f1": "one\n", "a/b/f2": "two!\n" });
});
afterEach(async () => {
  await t.cleanup();
});

it.each([
  ["inner path first", ["a/b", "a"]],
  ["outer path first", ["a", "a/b"]],
])("counts each file once with the %s", async (_, order) => {
  const snapshot = await backup(t.repo, order.map((p) => join(t.work, "src", p)));
  expect(snapshot.summary!.totalFilesProcessed).toBe(2);
  expect(snapshot.summary!.totalBytesProcessed).toBe(9);
  expect(snapshot.summary!.filesNew).toBe(2);
  for (const file of ["a/f1", "a/b/f2"]) expect((await findNode(t.repo, snapshot.tree, join(t.work, "src", file)))?.type).toBe("file");
});

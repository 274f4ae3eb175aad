// diff: every kind of change between two snapshots, found without loading unchanged subtrees.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DiffStatsCollector } from "../../src/diff/diff-stats.js";
import { diffTrees, type TreeChange } from "../../src/diff/tree-diff.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let before: StoredSnapshot;
let after: StoredSnapshot;

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  const files: Record<string, string> = {
    "a.txt": "alpha v1\n",
    "b.txt": "bravo\n",
    "c.txt": "charlie\n",
    "d.txt": "delta\n",
    "m.txt": "mike\n",
    "gone/x.txt": "x-ray\n",
    "gone/y/z.txt": "zulu\n",
  };
  for (let i = 0; i < 50; i++) files[`keep/d${i}/f.txt`] = `kept ${i}\n`;
  await writeTree(src, files);
  await fs.symlink("a.txt", join(src, "link"));
  before = await backup(t.repo, [src]);

  await fs.writeFile(join(src, "a.txt"), "alpha v2, longer\n");
  await fs.chmod(join(src, "b.txt"), 0o600);
  await fs.rm(join(src, "c.txt"));
  await fs.rm(join(src, "d.txt"));
  await fs.symlink("b.txt", join(src, "d.txt"));
  await fs.utimes(join(src, "m.txt"), new Date("2020-01-01T00:00:00Z"), new Date("2020-01-01T00:00:00Z"));
  await fs.rm(join(src, "gone"), { recursive: true });
  await writeTree(src, { "new/n.txt": "november\n" });
  await fs.rm(join(src, "link"));
  await fs.symlink("m.txt", join(src, "link"));
  after = await backup(t.repo, [src]);
});

afterAll(async () => {
  await t?.cleanup();
});

/** The trees of `src` in each snapshot: the temp directories above it change all the time. */
async function srcTrees(): Promise<[string, string]> {
  return [(await findNode(t.repo, before.tree, src))!.subtree!, (await findNode(t.repo, after.tree, src))!.subtree!];
}

async function changes(): Promise<TreeChange[]> {
  const [a, b] = await srcTrees();
  const list: TreeChange[] = [];
  for await (const c of diffTrees(t.repo, a, b, src)) list.push(c);
  return list;
}

describe("diffTrees", () => {
  it("reports added, removed, modified, metadata-only and type changes in path order", async () => {
    const list = await changes();
    expect(list.map((c) => [c.kind, c.path.slice(src.length)])).toEqual([
      ["modified", "/a.txt"],
      ["metadata", "/b.txt"],
      ["removed", "/c.txt"],
      ["type", "/d.txt"],
      ["removed", "/gone"],
      ["removed", "/gone/x.txt"],
      ["removed", "/gone/y"],
      ["removed", "/gone/y/z.txt"],
      ["modified", "/link"],
      ["metadata", "/m.txt"],
      ["added", "/new"],
      ["added", "/new/n.txt"],
    ]);
    expect(list.find((c) => c.path.endsWith("/b.txt"))!.fields).toEqual(["mode"]);
    expect(list.find((c) => c.path.endsWith("/m.txt"))!.fields).toEqual(["mtime"]);
    expect(list.find((c) => c.kind === "type")).toMatchObject({ before: { type: "file" }, after: { type: "symlink" } });
  });

  it("never loads a subtree whose id is the same on both sides", async () => {
    const [a, b] = await srcTrees();
    const keep = (await findNode(t.repo, after.tree, `${src}/keep`))!.subtree!;
    const spy = vi.spyOn(t.repo, "loadTree");
    try {
      for await (const change of diffTrees(t.repo, a, b, src)) void change;
      const loaded = spy.mock.calls.map(([id]) => id);
      expect(loaded).not.toContain(keep);
      // src on both sides, gone, gone/y and new: nothing of the 51 directories under keep.
      expect(loaded.length).toBe(5);
    } finally {
      spy.mockRestore();
    }
  });

  it("finds nothing between a snapshot and itself", async () => {
    const list: TreeChange[] = [];
    for await (const c of diffTrees(t.repo, before.tree, before.tree)) list.push(c);
    expect(list).toEqual([]);
  });

  it("counts files, dirs, others and the data blobs that came and went", async () => {
    const stats = new DiffStatsCollector();
    for (const c of await changes()) stats.add(c);
    const [a, b] = await srcTrees();
    const s = await stats.finish(t.repo, { before: a, after: b });
    expect(s).toMatchObject({
      files: { added: 1, removed: 3, modified: 1 },
      dirs: { added: 1, removed: 2 },
      others: { added: 0, removed: 0 },
      metadataChanged: 2,
      typeChanged: 1,
      // New: a.txt v2 and n.txt. Gone: a.txt v1, c.txt, d.txt, x.txt, z.txt.
      dataBlobs: { added: 2, removed: 5 },
      bytes: { added: "alpha v2, longer\n".length + "november\n".length, removed: "alpha v1\n".length + "charlie\n".length + "delta\n".length + "x-ray\n".length + "zulu\n".length },
    });
  });

  it("counts no data as added for a new copy of a file both sides keep, nor as removed for a deleted copy", async () => {
    const dir = join(t.work, "copies");
    await writeTree(dir, { "kept.bin": "the same bytes on both sides\n", "old-copy.bin": "kept elsewhere too\n", "elsewhere.bin": "kept elsewhere too\n" });
    const first = await backup(t.repo, [dir]);
    await fs.copyFile(join(dir, "kept.bin"), join(dir, "new-copy.bin"));
    await fs.rm(join(dir, "old-copy.bin"));
    const second = await backup(t.repo, [dir]);
    const trees = { before: (await findNode(t.repo, first.tree, dir))!.subtree!, after: (await findNode(t.repo, second.tree, dir))!.subtree! };
    const stats = new DiffStatsCollector();
    for await (const c of diffTrees(t.repo, trees.before, trees.after, dir)) stats.add(c);
    expect(await stats.finish(t.repo, trees)).toMatchObject({ files: { added: 1, removed: 1 }, dataBlobs: { added: 0, removed: 0 }, bytes: { added: 0, removed: 0 } });
  });
});

// tag: snapshots rewritten with new tags; the id changes, the old document goes, `original` remembers.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listSnapshots, loadSnapshot } from "../../src/store/snapshot/snapshot-store.js";
import { applyTagChange, retagSnapshot } from "../../src/store/snapshot/snapshot-tags.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;

beforeAll(async () => {
  t = await createTestRepository();
  await writeTree(join(t.work, "src"), { "f.txt": "f" });
});

afterAll(async () => {
  await t?.cleanup();
});

describe("applyTagChange", () => {
  it("adds, removes and sets, keeping tags sorted and unique", () => {
    expect(applyTagChange(["b", "a"], { add: ["c", "a"] })).toEqual(["a", "b", "c"]);
    expect(applyTagChange(["a", "b"], { remove: ["a", "x"] })).toEqual(["b"]);
    expect(applyTagChange(["a", "b"], { set: ["z", "y"] })).toEqual(["y", "z"]);
    expect(applyTagChange(["a"], { set: [] })).toEqual([]);
  });
});

describe("retagSnapshot", () => {
  it("writes the new document, deletes the old one and records the original", async () => {
    const s = await backup(t.repo, [join(t.work, "src")], { tags: ["daily"] });
    const result = (await retagSnapshot(t.repo.backend, s, { add: ["keep"], remove: ["daily"] }))!;
    expect(result.id).not.toBe(s.id);
    const ids = (await listSnapshots(t.repo.backend)).map((x) => x.id);
    expect(ids).toContain(result.id);
    expect(ids).not.toContain(s.id);
    const stored = await loadSnapshot(t.repo.backend, result.id);
    expect(stored).toMatchObject({ tags: ["keep"], original: s.id, tree: s.tree, time: s.time, hostname: s.hostname, summary: s.summary });

    // A second rewrite still names the first snapshot as the original.
    const again = (await retagSnapshot(t.repo.backend, stored, { set: ["final"] }))!;
    expect((await loadSnapshot(t.repo.backend, again.id)).original).toBe(s.id);
  });

  it("leaves a snapshot alone when its tags would not change", async () => {
    const s = await backup(t.repo, [join(t.work, "src")], { tags: ["a"] });
    expect(await retagSnapshot(t.repo.backend, s, { add: ["a"], remove: ["b"] })).toBeUndefined();
    expect((await listSnapshots(t.repo.backend)).map((x) => x.id)).toContain(s.id);
  });
});

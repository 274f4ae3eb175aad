// stats: restore size, distinct data, and the deduplication and compression they imply, on a known dataset.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotStats } from "../../src/stats/snapshot-stats.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let first: StoredSnapshot;
let second: StoredSnapshot;
// Both below the default chunker minimum (64 KiB): one chunk each, whatever the random bytes.
const RANDOM = randomBytes(60_000);
const TEXT = "z".repeat(30_000);

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  await writeTree(src, { "a.bin": RANDOM, "b.bin": RANDOM, "c.txt": "hello\n", "z.txt": TEXT });
  await fs.link(join(src, "c.txt"), join(src, "h.txt"));
  await fs.mkdir(join(src, "empty"));
  await fs.symlink("a.bin", join(src, "link"));
  first = await backup(t.repo, [src]);
  second = await backup(t.repo, [src]);
});

afterAll(async () => {
  await t?.cleanup();
});

const RESTORE_BYTES = 2 * RANDOM.length + "hello\n".length + TEXT.length;
const DISTINCT_BYTES = RANDOM.length + "hello\n".length + TEXT.length;

describe("snapshotStats", () => {
  it("counts the restore size of one snapshot exactly, a hard-linked file once", async () => {
    const s = await snapshotStats(t.repo, [first]);
    const depth = src.split("/").filter(Boolean).length;
    expect(s.snapshots).toBe(1);
    expect(s.restoreSize).toEqual({ files: 5, dirs: depth + 1, others: 1, bytes: RESTORE_BYTES });
    expect(s.rawData).toMatchObject({ uniqueFiles: 3, uniqueFileBytes: DISTINCT_BYTES, dataBlobs: 3, dataPlainBytes: DISTINCT_BYTES, treeBlobs: depth + 2, missingBlobs: 0 });
    expect(s.deduplicationRatio).toBeCloseTo(RESTORE_BYTES / DISTINCT_BYTES, 10);
    expect(s.deduplicationRatio).toBeGreaterThan(1.6);
  });

  it("measures compression from the stored blobs", async () => {
    const s = await snapshotStats(t.repo, [first]);
    let stored = 0;
    let plain = 0;
    for (const location of await Promise.all([...(await referencedBlobs(first))].map((id) => t.repo.lookupBlob(id)!))) {
      stored += location.storedLength;
      plain += location.plainLength;
    }
    expect(s.rawData.storedBytes).toBe(stored);
    expect(s.rawData.plainBytes).toBe(plain);
    // 50 kB of one letter compresses to almost nothing; random bytes do not compress.
    expect(s.compressionRatio).toBeCloseTo(plain / stored, 10);
    expect(s.compressionRatio).toBeGreaterThan(1.3);
    expect(s.totalRatio).toBeCloseTo(RESTORE_BYTES / stored, 10);
  });

  it("counts each snapshot's restore size in full, and shared data once", async () => {
    const one = await snapshotStats(t.repo, [first]);
    const both = await snapshotStats(t.repo, [first, second]);
    expect(both.snapshots).toBe(2);
    expect(both.restoreSize.bytes).toBe(2 * RESTORE_BYTES);
    expect(both.restoreSize.files).toBe(10);
    // The file data is shared; directory listings may differ (times of the directories above).
    const data = (r: typeof one.rawData) => ({ uniqueFiles: r.uniqueFiles, uniqueFileBytes: r.uniqueFileBytes, dataBlobs: r.dataBlobs, dataPlainBytes: r.dataPlainBytes });
    expect(data(both.rawData)).toEqual(data(one.rawData));
    expect(both.deduplicationRatio).toBeCloseTo(2 * one.deduplicationRatio, 10);
  });

  it("is all zeros for no snapshots", async () => {
    const s = await snapshotStats(t.repo, []);
    expect(s.restoreSize).toEqual({ files: 0, dirs: 0, others: 0, bytes: 0 });
    expect(s.deduplicationRatio).toBe(0);
  });
});

/** Every blob id a snapshot references, found independently of snapshotStats. */
async function referencedBlobs(snapshot: StoredSnapshot): Promise<Set<string>> {
  const ids = new Set<string>();
  const walk = async (tree: string) => {
    ids.add(tree);
    for (const node of await t.repo.loadTree(tree)) {
      for (const id of node.content ?? []) ids.add(id);
      if (node.subtree) await walk(node.subtree);
    }
  };
  await walk(snapshot.tree);
  return ids;
}

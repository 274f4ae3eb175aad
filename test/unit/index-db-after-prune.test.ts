// After a prune the index database is patched, not rebuilt: it must hold exactly what a rebuild
// from the same index files holds, or backups and the next prune would trust blobs that are gone.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { removeSnapshots } from "../../src/prune/forget.js";
import { prune, type PruneOptions } from "../../src/prune/prune.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import type { Backend } from "../../src/store/backend/backend.js";
import type { Id } from "../../src/store/id.js";
import type { BlobLocation } from "../../src/store/index/blob-location.js";
import { IndexDb } from "../../src/store/index/index-db.js";
import { syncIndexDb } from "../../src/store/index/index-sync.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";
import { manifest } from "../support/test-data.js";

const SMALL = { packSize: 1024 * 1024, chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384 } };
const REPACK_ALL: PruneOptions = { dryRun: false, maxUnused: { percent: 0 }, maxRepackSize: Infinity };
const REMOVE_ONLY: PruneOptions = { dryRun: false, maxUnused: "unlimited", maxRepackSize: Infinity };

const open: TestRepository[] = [];
afterEach(async () => {
  for (const f of open.splice(0)) await f.cleanup();
});

/** Everything the database says, in a form two databases can be compared by. */
async function contents(db: IndexDb) {
  const blobs = new Map<Id, BlobLocation>();
  for await (const [id, location] of db.blobs()) blobs.set(id, location);
  const copies: string[] = [];
  for await (const [id, location] of db.duplicates()) copies.push(`${id} ${location.packId}`);
  const packs: string[] = [];
  for await (const pack of db.packs()) packs.push(`${pack.id} ${pack.type} ${pack.size} ${pack.blobCount}`);
  return { blobs, copies: copies.sort(), packs: packs.sort(), files: await db.indexFiles() };
}

/** What a database built from scratch from the repository's index files holds. */
async function rebuilt(backend: Backend, dir: string) {
  const db = await IndexDb.open(dir, { waitMs: 0 });
  try {
    expect(await syncIndexDb(db, backend)).toBe("rebuilt");
    return await contents(db);
  } finally {
    await db.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function writeFiles(dir: string, from: number, to: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let i = from; i < to; i++) await fs.writeFile(join(dir, `f${i}`), randomBytes(100 * 1024));
}

it("holds what a rebuild holds after each prune, repacking or only removing, and everything left restores", async () => {
  const f = await createTestRepository(SMALL);
  open.push(f);
  const src = join(f.work, "src");
  const kept: StoredSnapshot[] = [];
  for (let day = 0; day < 6; day++) {
    // Each day adds 30 files (about three packs) and drops the oldest 20: packs of one backup (one
    // index file) go unused at different times, so prune rewrites index files with packs that stay.
    await writeFiles(src, day * 30, day * 30 + 30);
    for (let i = (day - 1) * 20; i < day * 20; i++) await fs.rm(join(src, `f${i}`), { force: true });
    kept.push(await backup(f.repo, [src]));
    if (day < 2) continue;
    await removeSnapshots(f.repo.backend, [kept.shift()!]);
    const result = await prune(f.repo, day % 2 === 0 ? REPACK_ALL : REMOVE_ONLY);
    expect(result.packsRemoved).toBeGreaterThan(0);
    expect(await contents(f.repo.index)).toEqual(await rebuilt(f.repo.backend, join(f.work, `rebuilt-${day}`)));
    await f.reopen();
    expect(f.repo.indexStatus.sync).toBe("current");
  }
  const expected = await manifest(src);
  const target = join(f.work, "restored");
  await restoreSnapshot(f.repo, kept[kept.length - 1]!.tree, { target });
  expect(await manifest(join(target, src))).toEqual(expected);
});

import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { IntegrityError, InterruptedError } from "../../src/errors.js";
import { removeSnapshots } from "../../src/prune/forget.js";
import { prune, type PruneOptions } from "../../src/prune/prune.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { Compression } from "../../src/store/blob-codec.js";
import { hashBytes } from "../../src/store/id.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { PackBuilder } from "../../src/store/pack/pack-builder.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import type { Repository } from "../../src/store/repository.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { leftByKilledPrune, listFiles } from "../support/killed-prune.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";
import { manifest } from "../support/test-data.js";

const SMALL = { packSize: 1024 * 1024, chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384 } };
const EXACT: PruneOptions = { dryRun: false, maxUnused: { percent: 0 }, maxRepackSize: Infinity };

interface Generations {
  src: string;
  s1: StoredSnapshot;
  s2: StoredSnapshot;
  s3: StoredSnapshot;
  m2: Record<string, string>;
  m3: Record<string, string>;
}

/** Built once: a closed repository with three generations, copied for each test. */
let template: TestRepository;
let g: Generations;
const fixtures: TestRepository[] = [];

beforeAll(async () => {
  template = await createTestRepository(SMALL);
  g = await threeGenerations(template);
  await template.repo.close();
});
afterAll(async () => {
  await fs.rm(template.work, { recursive: true, force: true });
});
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

/** A private copy of the template repository, open. */
async function fixture(): Promise<TestRepository> {
  const work = await fs.mkdtemp(join(template.work, "copy-"));
  const repoPath = join(work, "repo");
  await fs.cp(template.repoPath, repoPath, { recursive: true });
  const f: TestRepository = {
    work,
    repoPath,
    repo: await openLocalRepository(repoPath),
    async close() {
      await f.repo.close();
    },
    async reopen() {
      await f.repo.close();
      f.repo = await openLocalRepository(repoPath);
    },
    async cleanup() {
      await f.repo.close();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
  fixtures.push(f);
  return f;
}

/** Rewrites the files `names` of `dir` with fresh random content of `size` bytes. */
async function writeRandom(dir: string, names: readonly string[], size = 16 * 1024): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const name of names) await fs.writeFile(join(dir, name), randomBytes(size));
}

const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `f${from + i}`);

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await fs.stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/**
 * What check --read-data establishes for the snapshots that remain: every tree and data blob
 * they reach is indexed, in a pack that exists, and reads back with the right hash; and every
 * pack the index lists exists.
 */
async function verifyRepository(repo: Repository): Promise<void> {
  for await (const pack of repo.index.packs()) expect(await repo.backend.stat(packKey(pack.id)), `pack ${pack.id}`).toBeDefined();
  const seen = new Set<string>();
  const visit = async (tree: string): Promise<void> => {
    if (seen.has(tree)) return;
    seen.add(tree);
    for (const node of await repo.loadTree(tree)) {
      for (const id of node.content ?? []) {
        if (seen.has(id)) continue;
        seen.add(id);
        expect(hashBytes(await repo.loadBlob(id))).toBe(id);
      }
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const snapshot of await repo.listSnapshots()) await visit(snapshot.tree);
}

async function expectRestores(f: TestRepository, snapshot: StoredSnapshot, source: string, expected: Record<string, string>): Promise<void> {
  const target = await fs.mkdtemp(join(f.work, "restore-"));
  await restoreSnapshot(f.repo, snapshot.tree, { target });
  expect(await manifest(join(target, source))).toEqual(expected);
  await fs.rm(target, { recursive: true, force: true });
}

/** Three backups of a changing directory: the first holds data that only it uses. */
async function threeGenerations(f: TestRepository): Promise<Generations> {
  const src = join(f.work, "src");
  await writeRandom(src, names(0, 150));
  const s1 = await backup(f.repo, [src], { time: new Date("2024-01-01T00:00:00Z") });
  // Two thirds of the files change, so the first snapshot's packs end up a third used.
  await writeRandom(src, names(0, 150).filter((_, i) => i % 3 !== 0));
  const s2 = await backup(f.repo, [src], { time: new Date("2024-01-02T00:00:00Z") });
  const m2 = await manifest(src);
  await fs.cp(src, join(f.work, "state2"), { recursive: true });
  for (const name of names(100, 150)) await fs.rm(join(src, name));
  await writeRandom(src, names(150, 200));
  const s3 = await backup(f.repo, [src], { time: new Date("2024-01-03T00:00:00Z") });
  const m3 = await manifest(src);
  await fs.cp(src, join(f.work, "state3"), { recursive: true });
  return { src, s1, s2, s3, m2, m3 };
}

describe("prune", () => {
  it("frees what forgotten snapshots alone held; the rest verifies and restores byte-identical", async () => {
    const f = await fixture();
    const before = await dirBytes(join(f.repoPath, "data"));
    await removeSnapshots(f.repo.backend, [g.s1]);
    const result = await prune(f.repo, EXACT);

    expect(result.plan.repack.length).toBeGreaterThan(0);
    expect(result.packsRepacked).toBe(result.plan.repack.length);
    expect(result.packsWritten).toBeGreaterThan(0);
    expect(result.plan.unusedAfter).toBe(0);
    const after = await dirBytes(join(f.repoPath, "data"));
    expect(after).toBeLessThan(before);
    expect(result.repositoryBytesAfter).toBeLessThan(result.repositoryBytesBefore);

    await verifyRepository(f.repo);
    await f.reopen();
    await verifyRepository(f.repo);
    await expectRestores(f, g.s2, g.src, g.m2);
    await expectRestores(f, g.s3, g.src, g.m3);

    // A fresh repository holding only the remaining states is (nearly) the same size: the
    // difference is tree blobs (other paths) and where pack boundaries fall.
    const fresh = await createTestRepository(SMALL);
    fixtures.push(fresh);
    await backup(fresh.repo, [join(template.work, "state2")]);
    await backup(fresh.repo, [join(template.work, "state3")]);
    const freshBytes = await dirBytes(join(fresh.repoPath, "data"));
    expect(Math.abs(after - freshBytes)).toBeLessThan(freshBytes * 0.01 + 8 * 1024);

    // Nothing left to do: a second prune changes nothing.
    const again = await prune(f.repo, EXACT);
    expect(again.packsRemoved).toBe(0);
    expect(again.repositoryBytesAfter).toBe(again.repositoryBytesBefore);
  });

  it("dry run changes nothing and predicts the real run", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1, g.s2]);
    const files = await listFiles(f.repoPath);
    const dry = await prune(f.repo, { ...EXACT, dryRun: true });
    expect(await listFiles(f.repoPath)).toEqual(files);
    const real = await prune(f.repo, EXACT);
    expect(real.plan.remove.map((p) => p.id).sort()).toEqual(dry.plan.remove.map((p) => p.id).sort());
    expect(real.plan.repack.map((p) => p.id).sort()).toEqual(dry.plan.repack.map((p) => p.id).sort());
    expect(real.bytesRemoved).toBe(dry.bytesRemoved);
    // The estimate counts blob bytes only; new packs add their trailers.
    expect(Math.abs(real.repositoryBytesAfter - dry.repositoryBytesAfter)).toBeLessThan(real.repositoryBytesAfter * 0.02);
    await expectRestores(f, g.s3, g.src, g.m3);
  });

  it("with --max-unused unlimited removes only wholly unused packs; --max-repack-size caps repacking", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1]);
    const lazy = await prune(f.repo, { ...EXACT, dryRun: true, maxUnused: "unlimited" });
    expect(lazy.plan.repack).toEqual([]);
    const capped = await prune(f.repo, { ...EXACT, dryRun: true, maxRepackSize: 1 });
    expect(capped.plan.repack).toEqual([]);
    const exact = await prune(f.repo, { ...EXACT, dryRun: true });
    const biggest = Math.max(...exact.plan.repack.map((p) => p.size));
    const one = await prune(f.repo, { ...EXACT, dryRun: true, maxRepackSize: biggest });
    expect(one.plan.repack.length).toBeGreaterThanOrEqual(1);
    expect(one.bytesRepacked).toBeLessThanOrEqual(biggest);
    // A generous share (restic's semantics: of the used data) needs no repacking here.
    const tolerant = await prune(f.repo, { ...EXACT, dryRun: true, maxUnused: { percent: 90 } });
    expect(tolerant.plan.repack).toEqual([]);
  });

  it("deletes packs that no index lists", async () => {
    const f = await fixture();
    const builder = new PackBuilder("data");
    const orphanBlob = randomBytes(5000);
    builder.add(hashBytes(orphanBlob), orphanBlob.length, { stored: orphanBlob, compression: Compression.none });
    const orphan = builder.finish();
    await f.repo.backend.put(packKey(orphan.id), orphan.bytes);

    const result = await prune(f.repo, EXACT);
    expect(result.plan.unindexed.map((p) => p.id)).toEqual([orphan.id]);
    expect(await f.repo.backend.stat(packKey(orphan.id))).toBeUndefined();
    await verifyRepository(f.repo);
    await expectRestores(f, g.s3, g.src, g.m3);
  });

  it("refuses to run, deleting nothing, when a blob a snapshot needs is damaged or missing", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1]);
    const plan = await prune(f.repo, { ...EXACT, dryRun: true });
    const victim = plan.plan.repack[0]!;
    const file = join(f.repoPath, packKey(victim.id));
    const original = await fs.readFile(file);
    // Damage every blob the index places in the pack: repacking reads and verifies the used ones.
    const located = [];
    for await (const [, loc] of f.repo.index.blobs()) if (loc.packId === victim.id) located.push(loc);
    const damaged = Buffer.from(original);
    for (const loc of located) damaged[loc.offset + Math.floor(loc.storedLength / 2)]! ^= 0xff;
    await fs.chmod(file, 0o600);
    await fs.writeFile(file, damaged);
    const files = await listFiles(f.repoPath);
    await expect(prune(f.repo, EXACT)).rejects.toThrow(IntegrityError);
    expect(await listFiles(f.repoPath)).toEqual(files);
    await fs.writeFile(file, original);

    // A data pack holding needed blobs is gone: nothing is deleted either. (A missing tree pack
    // fails earlier, in the walk of the snapshots, with its own message.)
    const kept = (await prune(f.repo, { ...EXACT, dryRun: true, maxUnused: "unlimited" })).plan;
    const needed = [];
    for await (const pack of f.repo.index.packs()) if (pack.type === "data" && !kept.remove.some((p) => p.id === pack.id)) needed.push(pack.id);
    await fs.rm(join(f.repoPath, packKey(needed[0]!)));
    const remaining = await listFiles(f.repoPath);
    await expect(prune(f.repo, EXACT)).rejects.toThrow(/missing.*nothing was deleted/);
    expect(await listFiles(f.repoPath)).toEqual(remaining);
  });

  it("reuses, never deletes, the packs and index files an interrupted prune already wrote", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1]);
    const { copy, carried } = await leftByKilledPrune(f, EXACT);
    expect(carried.length).toBeGreaterThan(1);
    f.repo = await openLocalRepository(f.repoPath);

    await prune(f.repo, EXACT);
    await verifyRepository(f.repo);
    await expectRestores(f, g.s2, g.src, g.m2);
    await expectRestores(f, g.s3, g.src, g.m3);
    expect(await listFiles(join(f.repoPath, "data"))).toEqual(await listFiles(join(copy, "data")));
  });

  it("after a prune killed while deleting the old index files, keeps the new packs' copies and ends where the uninterrupted prune did", async () => {
    // Enough packs for several index files (one per 8 packs): some of them are replaced.
    const f = await createTestRepository(SMALL);
    fixtures.push(f);
    const src = join(f.work, "src");
    await writeRandom(src, names(0, 400), 64 * 1024);
    const s1 = await backup(f.repo, [src], { time: new Date("2024-01-01T00:00:00Z") });
    await writeRandom(src, names(0, 400).filter((_, i) => i % 3 !== 0), 64 * 1024);
    const s2 = await backup(f.repo, [src], { time: new Date("2024-01-02T00:00:00Z") });
    const m2 = await manifest(src);
    await removeSnapshots(f.repo.backend, [s1]);
    // Killed later still: only some of the index files it replaced deleted, so the others
    // still list old packs beside the new packs' copies.
    const { copy, originalFiles, copyFiles } = await leftByKilledPrune(f, EXACT);
    const replaced = [...originalFiles].filter((file) => file.startsWith("index/") && !copyFiles.has(file));
    expect(replaced.length).toBeGreaterThanOrEqual(4);
    for (const file of replaced.filter((_, i) => i % 2 === 0)) await fs.rm(join(f.repoPath, file));
    f.repo = await openLocalRepository(f.repoPath);

    await prune(f.repo, EXACT);
    await verifyRepository(f.repo);
    const target = await fs.mkdtemp(join(f.work, "restore-"));
    await restoreSnapshot(f.repo, s2.tree, { target });
    expect(await manifest(join(target, src))).toEqual(m2);
    // No old pack kept for the sake of blobs the new packs also hold.
    expect(await listFiles(join(f.repoPath, "data"))).toEqual(await listFiles(join(copy, "data")));
  });

  it("uses the copies that are present when a pack the killed prune wrote is lost", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1]);
    const { originalFiles, copyFiles } = await leftByKilledPrune(f, EXACT);
    const written = [...copyFiles].filter((file) => file.startsWith("data/") && !originalFiles.has(file));
    expect(written.length).toBeGreaterThanOrEqual(1);
    await fs.rm(join(f.repoPath, written[0]!));
    f.repo = await openLocalRepository(f.repoPath);

    await prune(f.repo, EXACT);
    await verifyRepository(f.repo);
    await expectRestores(f, g.s2, g.src, g.m2);
    await expectRestores(f, g.s3, g.src, g.m3);
  });

  it("stops when interrupted, in the walk or between packs repacked, deleting nothing; the next prune completes", async () => {
    const f = await fixture();
    await removeSnapshots(f.repo.backend, [g.s1]);
    const before = await listFiles(join(f.repoPath, "data"));
    const indexBefore = await listFiles(join(f.repoPath, "index"));

    const walk = new AbortController();
    walk.abort();
    await expect(prune(f.repo, { ...EXACT, signal: walk.signal })).rejects.toBeInstanceOf(InterruptedError);
    expect(await listFiles(join(f.repoPath, "data"))).toEqual(before);

    const repack = new AbortController();
    let packsRead = 0;
    const interrupted = prune(f.repo, {
      ...EXACT,
      signal: repack.signal,
      onProgress: (p) => {
        if (p.phase !== "repack" || p.packsRead === 0) return;
        packsRead = p.packsRead;
        expect(p.packsTotal).toBeGreaterThan(1);
        repack.abort();
      },
    });
    await expect(interrupted).rejects.toBeInstanceOf(InterruptedError);
    expect(packsRead).toBe(1);
    // Every pack and index file is still there (new packs may have been added, in no index).
    const data = new Set(await listFiles(join(f.repoPath, "data")));
    for (const file of before) expect(data.has(file), file).toBe(true);
    expect(await listFiles(join(f.repoPath, "index"))).toEqual(indexBefore);
    await verifyRepository(f.repo);

    const result = await prune(f.repo, EXACT);
    expect(result.packsRemoved).toBeGreaterThan(0);
    expect(result.plan.unusedAfter).toBe(0);
    await verifyRepository(f.repo);
    await expectRestores(f, g.s2, g.src, g.m2);
    await expectRestores(f, g.s3, g.src, g.m3);
  });
});

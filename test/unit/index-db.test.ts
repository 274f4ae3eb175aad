// The LevelDB index is derived data: it can be deleted, it follows index files that prune
// replaces, it survives a crash mid-rebuild, and only one process holds it at a time.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runBackup, type BackupResult } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { ExitCode, LockError } from "../../src/errors.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { compressDocument } from "../../src/store/document-codec.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import type { BlobLocation } from "../../src/store/index/blob-location.js";
import { IndexDb } from "../../src/store/index/index-db.js";
import { serializeIndexFile } from "../../src/store/index/index-file.js";
import { listIndexFiles, readIndexFile, syncIndexDb } from "../../src/store/index/index-sync.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import type { Repository } from "../../src/store/repository.js";
import { localIndexDbPath } from "../../src/store/repository-location.js";
import { pseudoRandomBytes } from "../support/test-data.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const DIST_INDEX_DB = fileURLToPath(new URL("../../dist/src/store/index/index-db.js", import.meta.url));
const DIST_PROCESS_COMMAND = fileURLToPath(new URL("../../dist/src/store/process-command.js", import.meta.url));

let work: string;
let repoDir: string;
let dbPath: string;
const open: Repository[] = [];

async function openRepo(): Promise<Repository> {
  const repo = await openLocalRepository(repoDir);
  open.push(repo);
  return repo;
}

async function closeAll(): Promise<void> {
  while (open.length) await open.pop()!.close();
}

/** Two directories of distinct content, each written by its own backup (so each has its own index files and packs). */
async function makeTree(name: string, seed: number): Promise<string> {
  const dir = join(work, name);
  await fs.mkdir(join(dir, "sub"), { recursive: true });
  await fs.writeFile(join(dir, "big"), pseudoRandomBytes(3 * MiB, seed));
  for (let i = 0; i < 20; i++) await fs.writeFile(join(dir, "sub", `f${i}`), pseudoRandomBytes(1000 + i * 3000, seed * 100 + i));
  return dir;
}

async function backUp(repo: Repository, dir: string): Promise<BackupResult> {
  const result = await runBackup(repo, { sources: [new PathSource(dir)] });
  expect(result.warnings).toEqual([]);
  return result;
}

async function expectRestores(repo: Repository, result: BackupResult, dir: string): Promise<void> {
  const target = await fs.mkdtemp(join(work, "restore-"));
  const restored = await restoreSnapshot(repo, result.snapshot.tree, { target });
  expect(restored.damaged).toEqual([]);
  const names = ["big", ...Array.from({ length: 20 }, (_, i) => `sub/f${i}`)];
  for (const name of names) expect((await fs.readFile(join(target, dir, name))).equals(await fs.readFile(join(dir, name)))).toBe(true);
  await fs.rm(target, { recursive: true });
}

async function allBlobs(repo: Repository): Promise<Map<Id, BlobLocation>> {
  const blobs = new Map<Id, BlobLocation>();
  for await (const [id, location] of repo.index.blobs()) blobs.set(id, location);
  return blobs;
}

/** Made-up blobs and packs, for what the database does with index files alone. */
const id = (n: number) => hashBytes(Buffer.from(`blob ${n}`));
const pack = (n: number, blobs: number[]) => ({
  id: hashBytes(Buffer.from(`pack ${n}`)),
  type: "data" as const,
  size: 4096,
  entries: blobs.map((b, i) => ({ id: id(b), type: "data" as const, offset: i * 100, storedLength: 100, plainLength: 200, compression: 1 })),
});

beforeEach(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-indexdb-"));
  repoDir = join(work, "repo");
  dbPath = localIndexDbPath(repoDir);
  await initLocalRepository(repoDir, { chunker: { minSize: 16 * KiB, avgSize: 64 * KiB, maxSize: 256 * KiB }, packSize: 1 * MiB });
});
afterEach(async () => {
  await closeAll();
  await fs.rm(work, { recursive: true, force: true });
});

describe("queries", () => {
  it("hasBlobs answers, in order, what hasBlob answers one by one", async () => {
    const repo = await openRepo();
    await backUp(repo, await makeTree("a", 1));
    const indexed = [...(await allBlobs(repo)).keys()];
    const absent = [hashBytes(Buffer.from("never stored")), hashBytes(Buffer.from("nor this"))];
    const ids = [absent[0]!, ...indexed.slice(0, 5), absent[1]!, indexed[indexed.length - 1]!];
    expect(await repo.hasBlobs(ids)).toEqual(ids.map((id) => repo.hasBlob(id)));
    expect(await repo.hasBlobs(ids)).toEqual([false, true, true, true, true, true, false, true]);
    expect(await repo.hasBlobs([])).toEqual([]);
  });

  it("drops complete-tree marks when it is cleared, with the blobs they vouch for", async () => {
    const repo = await openRepo();
    const result = await backUp(repo, await makeTree("a", 1));
    const trees = [result.snapshot.tree, hashBytes(Buffer.from("unmarked"))];
    expect(trees.map((tree) => repo.isCompleteTree(tree))).toEqual([false, false]);
    await repo.markCompleteTrees([result.snapshot.tree]);
    expect(trees.map((tree) => repo.isCompleteTree(tree))).toEqual([true, false]);
    await repo.index.clear();
    expect(trees.map((tree) => repo.isCompleteTree(tree))).toEqual([false, false]);
  });
});

describe("duplicate copies", () => {

  it("keeps a blob's first location, records its other copies, swaps them on request, and forgets them when cleared", async () => {
    const repo = await openRepo();
    const [p1, p2, p3] = [pack(1, [1, 2]), pack(2, [2, 3]), pack(3, [3, 4])];
    // p2 and p3 in one index file: blob 3 is in both, and the first must be seen within the batch.
    await repo.index.addIndexFile(hashBytes(Buffer.from("index a")), [p1]);
    await repo.index.addIndexFile(hashBytes(Buffer.from("index b")), [p2, p3]);
    // The same pack listed again (as a rewritten index file does) is no duplicate.
    await repo.index.addIndexFile(hashBytes(Buffer.from("index c")), [p1]);
    const duplicates = async () => {
      const found: [number, string][] = [];
      for await (const [blob, location] of repo.index.duplicates()) found.push([[1, 2, 3, 4].find((n) => id(n) === blob)!, location.packId]);
      return found.sort((a, b) => a[0] - b[0]);
    };
    expect(repo.index.lookup(id(2))?.packId).toBe(p1.id);
    expect(repo.index.lookup(id(3))?.packId).toBe(p2.id);
    expect(await duplicates()).toEqual([[2, p2.id], [3, p3.id]]);

    await repo.index.relocate(id(3), repo.index.lookup(id(3))!, { packId: p3.id, type: "data", offset: 0, storedLength: 100, plainLength: 200, compression: 1 });
    expect(repo.index.lookup(id(3))).toEqual({ packId: p3.id, type: "data", offset: 0, storedLength: 100, plainLength: 200, compression: 1 });
    expect(await duplicates()).toEqual([[2, p2.id], [3, p2.id]]);

    await repo.index.clear();
    expect(await duplicates()).toEqual([]);
  });
});

describe("rebuilding", () => {
  it("rebuilds a deleted index.db from the index files, and everything still restores", async () => {
    const a = await makeTree("a", 1);
    const b = await makeTree("b", 2);
    let repo = await openRepo();
    const first = await backUp(repo, a);
    const second = await backUp(repo, b);
    const before = await allBlobs(repo);
    await closeAll();
    expect((await listIndexFiles(repo.backend)).length).toBeGreaterThanOrEqual(2);

    await fs.rm(dbPath, { recursive: true });
    repo = await openRepo();
    expect(await allBlobs(repo)).toEqual(before);
    expect(await repo.index.indexFiles()).toEqual(new Set(await listIndexFiles(repo.backend)));
    await expectRestores(repo, first, a);
    await expectRestores(repo, second, b);
    // Nothing was lost for deduplication either: the same trees add no data.
    expect((await backUp(repo, a)).snapshot.summary!.dataBlobs).toBe(0);
  });

  it("a fresh rebuild moves the old database aside in one step: a run killed while removing it leaves a database that opens", async () => {
    const a = await makeTree("a", 1);
    let repo = await openRepo();
    const first = await backUp(repo, a);
    const before = await allBlobs(repo);
    await closeAll();
    // What a run killed half-way through removing the moved-aside copy leaves: part of its files.
    const discarded = `${dbPath}.discarded-4242-1`;
    await fs.cp(dbPath, discarded, { recursive: true });
    for (const name of (await fs.readdir(discarded)).filter((n) => n.endsWith(".ldb") || n.startsWith("MANIFEST"))) await fs.rm(join(discarded, name));
    await fs.rm(dbPath, { recursive: true });
    repo = await openRepo();
    expect(await allBlobs(repo)).toEqual(before);
    await expectRestores(repo, first, a);
    expect((await fs.readdir(repoDir)).filter((n) => n.includes(".discarded-"))).toEqual([]);
    await closeAll();

    // A fresh open of a healthy database leaves no copy aside either.
    const fresh = await IndexDb.open(dbPath, { fresh: true, waitMs: 0 });
    await fresh.close();
    expect((await fs.readdir(repoDir)).filter((n) => n.includes(".discarded-"))).toEqual([]);
  });

  it("follows index files that prune merged without a rebuild, and holds what a rebuild would", async () => {
    const a = await makeTree("a", 1);
    const b = await makeTree("b", 2);
    const repo = await openRepo();
    const first = await backUp(repo, a);
    const second = await backUp(repo, b);
    const before = await allBlobs(repo);
    await repo.markCompleteTrees([first.snapshot.tree]);
    await closeAll();

    // Prune rewrites index files: here, all of them merged into one, the old ones deleted.
    const old = await listIndexFiles(repo.backend);
    const packs = (await Promise.all(old.map((id) => readIndexFile(repo.backend, id)))).flatMap((c) => c.packs);
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    const merged = compressDocument(serializeIndexFile({ packs }));
    await repo.backend.put(`index/${hashBytes(merged)}`, merged);
    for (const id of old) await repo.backend.delete(`index/${id}`);
    expect(await syncIndexDb(db, repo.backend)).toBe("updated");
    expect(await db.indexFiles()).toEqual(new Set([hashBytes(merged)]));
    // No pack went, so nothing was taken out: the marks stay.
    expect(db.isCompleteTree(first.snapshot.tree)).toBe(true);
    await db.close();

    const reopened = await openRepo();
    expect(reopened.indexStatus.sync).toBe("current");
    expect(await allBlobs(reopened)).toEqual(before);
    await expectRestores(reopened, first, a);
    await expectRestores(reopened, second, b);
  });

  it("takes out the packs only gone index files listed, moving their blobs to copies that stay, as a rebuild would", async () => {
    const file = (packs: ReturnType<typeof pack>[]) => compressDocument(serializeIndexFile({ packs }));
    const repo = await openRepo();
    const put = async (stored: Buffer) => {
      await repo.backend.put(`index/${hashBytes(stored)}`, stored);
      return hashBytes(stored);
    };
    // Blob 2 is in p1 and p2, blob 5 in p1 and p4; p3 is listed by three files.
    const [p1, p2, p3, p4] = [pack(1, [1, 2, 5]), pack(2, [2, 3]), pack(3, [4]), pack(4, [5, 6])];
    const fileA = await put(file([p1, p3]));
    await put(file([p2, p3]));
    const fileC = await put(file([p3]));
    await closeAll();
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    expect(await syncIndexDb(db, repo.backend)).toBe("rebuilt");
    await db.markCompleteTrees([id(100)]);
    expect(db.lookup(id(5))?.packId).toBe(p1.id);

    // Prune deletes p1 (its blob 5 repacked into p4), writes p4's file, and deletes fileA and
    // fileC: p3 stays, listed by the file that remains.
    await put(file([p4]));
    for (const gone of [fileA, fileC]) await repo.backend.delete(`index/${gone}`);
    expect(await syncIndexDb(db, repo.backend)).toBe("updated");
    expect(db.lookup(id(1))).toBeUndefined();
    expect(db.lookup(id(2))?.packId).toBe(p2.id);
    expect(db.lookup(id(5))?.packId).toBe(p4.id);
    expect(db.lookup(id(4))?.packId).toBe(p3.id);
    expect(db.hasPack(p1.id)).toBe(false);
    expect(db.isCompleteTree(id(100))).toBe(false);
    const state = async (index: IndexDb) => {
      const blobs = new Map<Id, BlobLocation>();
      for await (const [blob, location] of index.blobs()) blobs.set(blob, location);
      const copies: [Id, Id][] = [];
      for await (const [blob, location] of index.duplicates()) copies.push([blob, location.packId]);
      const packIds: Id[] = [];
      for await (const summary of index.packs()) packIds.push(summary.id);
      return { blobs, copies, packIds, files: await index.indexFiles() };
    };
    const updated = await state(db);
    expect(updated.copies).toEqual([]);
    expect(updated.packIds.sort()).toEqual([p2.id, p3.id, p4.id].sort());
    expect(db.rebuildPending()).toBe(false);
    await db.close();

    await fs.rm(dbPath, { recursive: true });
    const rebuilt = await IndexDb.open(dbPath, { waitMs: 0 });
    expect(await syncIndexDb(rebuilt, repo.backend)).toBe("rebuilt");
    expect(await state(rebuilt)).toEqual(updated);
    await rebuilt.close();
  });

  it("rebuilds when a pack is listed anew with other entries, as repair index lists a pack from its trailer", async () => {
    const repo = await openRepo();
    const wrong = pack(1, [1, 2]);
    const stored = compressDocument(serializeIndexFile({ packs: [wrong] }));
    await repo.backend.put(`index/${hashBytes(stored)}`, stored);
    await closeAll();
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    await syncIndexDb(db, repo.backend);
    expect(db.lookup(id(2))?.offset).toBe(100);

    // The same pack, its entries as its trailer has them: blob 2 elsewhere in it, blob 3 too.
    const right = { ...wrong, entries: [wrong.entries[0]!, { ...wrong.entries[1]!, offset: 300 }, { ...wrong.entries[1]!, id: id(3), offset: 500 }] };
    const fixed = compressDocument(serializeIndexFile({ packs: [right] }));
    await repo.backend.put(`index/${hashBytes(fixed)}`, fixed);
    await repo.backend.delete(`index/${hashBytes(stored)}`);
    // A damaged file beside it is reported once, though the rebuild reads every file again.
    await repo.backend.put(`index/${hashBytes(Buffer.from("elsewhere"))}`, Buffer.from("not this"));
    const damaged: Id[] = [];
    expect(await syncIndexDb(db, repo.backend, (file) => damaged.push(file))).toBe("rebuilt");
    expect(damaged).toEqual([hashBytes(Buffer.from("elsewhere"))]);
    expect(db.lookup(id(2))?.offset).toBe(300);
    expect(db.lookup(id(3))?.offset).toBe(500);
    await db.close();
  });

  it("rebuilds a database that does not record which packs its index files list (an older cairn's)", async () => {
    const pruned = await firstPrunedAway({ olderCairn: true });
    const repo = await openRepo();
    expect(repo.indexStatus.sync).toBe("rebuilt");
    await expectOnlySecondLeft(repo, pruned);
    expect([...(await repo.index.indexFileRecords()).values()].every((packs) => packs !== undefined && packs.length > 0)).toBe(true);
  });

  /** What an older cairn wrote: every index file recorded with an empty value (no pack list). */
  async function recordAsOlderCairn(): Promise<void> {
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    const level = (db as unknown as { db: { put: (key: string, value: Uint8Array) => Promise<void> } }).db;
    for (const file of await db.indexFiles()) await level.put(`i/${file}`, new Uint8Array(0));
    await db.close();
  }

  /**
   * Two backups of different trees, then the first removed with its index files and packs, as
   * prune does for data nothing else uses; the repository is left closed. `olderCairn`: the
   * database records its index files as an older cairn did, before the removal.
   */
  async function firstPrunedAway(options: { olderCairn?: boolean } = {}) {
    const a = await makeTree("a", 1);
    const b = await makeTree("b", 2);
    const repo = await openRepo();
    const first = await backUp(repo, a);
    const filesOfA = await listIndexFiles(repo.backend);
    const second = await backUp(repo, b);
    await closeAll();
    if (options.olderCairn) await recordAsOlderCairn();
    const gone = await pruneAway(repo, first, filesOfA);
    expect(gone.size).toBeGreaterThan(10);
    return { a, b, second, gone };
  }

  /** The removed blobs are unknown, the second snapshot restores, and backing the first tree up again stores its data again. */
  async function expectOnlySecondLeft(repo: Repository, { a, b, second, gone }: Awaited<ReturnType<typeof firstPrunedAway>>): Promise<void> {
    for (const id of gone) expect(repo.lookupBlob(id)).toBeUndefined();
    await expectRestores(repo, second, b);
    const again = await backUp(repo, a);
    expect(again.snapshot.summary!.dataBlobs).toBeGreaterThan(0);
    await expectRestores(repo, again, a);
  }

  /** Removes snapshot `result` with its index files and packs, as prune does for data nothing else uses. */
  async function pruneAway(repo: Repository, result: BackupResult, indexFiles: Id[]): Promise<Set<Id>> {
    const gone = new Set<Id>();
    for (const id of indexFiles) {
      for (const pack of (await readIndexFile(repo.backend, id)).packs) {
        await repo.backend.delete(packKey(pack.id));
        for (const entry of pack.entries) gone.add(entry.id);
      }
      await repo.backend.delete(`index/${id}`);
    }
    await repo.backend.delete(`snapshots/${result.snapshotId}`);
    return gone;
  }

  it("forgets blobs whose packs and index file are gone, so a new backup stores them again", async () => {
    const pruned = await firstPrunedAway();
    const repo = await openRepo();
    expect(repo.indexStatus.sync).toBe("updated");
    await expectOnlySecondLeft(repo, pruned);
  });

  it("finishes a rebuild (of an older cairn's database) that a crash interrupted part-way through clearing", async () => {
    const pruned = await firstPrunedAway({ olderCairn: true });

    // The rebuild this triggers dies after clearing its first key range (LevelDB clears in
    // batches, so a crash can stop it anywhere).
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    const level = (db as unknown as { db: { clear: (range: object) => Promise<void> } }).db;
    const clear = level.clear.bind(level);
    let calls = 0;
    level.clear = async (range: object) => {
      if (calls++ > 0) throw new Error("simulated crash");
      await clear(range);
    };
    await expect(syncIndexDb(db, new LocalBackend(repoDir))).rejects.toThrow("simulated crash");
    await db.close();
    await expectOnlySecondLeft(await openRepo(), pruned);
  });

  it("rebuilds after a crash part-way through taking packs out", async () => {
    const pruned = await firstPrunedAway();

    // The removal dies after its first pack: some of the gone blobs are still located.
    const db = await IndexDb.open(dbPath, { waitMs: 0 });
    const level = (db as unknown as { db: { batch: () => { write: () => Promise<void> } } }).db;
    const batch = level.batch.bind(level);
    let writes = 0;
    level.batch = () => {
      const real = batch();
      const write = real.write.bind(real);
      real.write = async () => {
        if (writes++ > 0) throw new Error("simulated crash");
        await write();
      };
      return real;
    };
    await expect(syncIndexDb(db, new LocalBackend(repoDir))).rejects.toThrow("simulated crash");
    expect([...pruned.gone].some((id) => db.lookup(id) !== undefined)).toBe(true);
    await db.close();

    const repo = await openRepo();
    expect(repo.indexStatus.sync).toBe("rebuilt");
    await expectOnlySecondLeft(repo, pruned);
  });
});

describe("one holder at a time", () => {
  it("makes a second open in the same process wait, then fail with a LockError naming the holder", async () => {
    await openRepo();
    const told: string[] = [];
    const attempt = IndexDb.open(dbPath, { waitMs: 600, onWait: (m) => told.push(m) });
    await expect(attempt).rejects.toThrow(LockError);
    const err = (await attempt.catch((e: unknown) => e)) as LockError;
    expect(err.exitCode).toBe(ExitCode.lockFailed);
    expect(err.message).toMatch(new RegExp(`^index database ${dbPath} is in use by process ${process.pid} on ${hostname()} \\(cairn(?: [a-z ]+)?, since \\d{4}-`));
    expect(err.message).toMatch(/--retry-lock/);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(new RegExp(`^waiting for the index database, held by process ${process.pid} on `));
  });

  describe("across processes", () => {
    let child: ChildProcessWithoutNullStreams | undefined;

    afterEach(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
      child = undefined;
    });

    /** A separate node process that opens the index database (compiled code) and holds it until its stdin closes. */
    async function holdInChild(): Promise<ChildProcessWithoutNullStreams> {
      expect(existsSync(DIST_INDEX_DB), "dist/ is built by vitest's globalSetup").toBe(true);
      const script = `
        import { IndexDb } from ${JSON.stringify(DIST_INDEX_DB)};
        import { setProcessCommand } from ${JSON.stringify(DIST_PROCESS_COMMAND)};
        setProcessCommand("backup");
        const db = await IndexDb.open(process.env.DB_PATH, { waitMs: 0 });
        process.stdout.write("held\\n");
        process.stdin.resume();
        process.stdin.on("end", async () => { await db.close(); process.stdout.write("released\\n"); });
      `;
      const proc = spawn(process.execPath, ["--input-type=module", "-e", script, "--", "bin/cairn.js", "backup", "/some/path"], { env: { ...process.env, DB_PATH: dbPath } });
      let out = "";
      proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
      while (!out.includes("held")) {
        if (proc.exitCode !== null) throw new Error(`holder exited early: ${out}`);
        await once(proc.stdout, "data");
      }
      return proc;
    }

    it("fails with the other process named, and succeeds once it lets go", async () => {
      child = await holdInChild();
      const err = (await IndexDb.open(dbPath, { waitMs: 300 }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(LockError);
      // Named by its command alone: the arguments (here /some/path) can hold credentials.
      expect(err.message).toMatch(new RegExp(`in use by process ${child.pid} on ${hostname()} \\(cairn backup, since `));

      // A waiter that is told who holds it, and gets the database when the holder closes it.
      const held = child;
      const exited = once(held, "exit");
      const db = await IndexDb.open(dbPath, { waitMs: 60_000, onWait: () => held.stdin.end() });
      await db.close();
      expect(await exited).toEqual([0, null]);
    });

    it("does not stay locked when the holder is killed", async () => {
      child = await holdInChild();
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
      const repo = await openRepo();
      expect(repo.index.location).toBe(dbPath);
    });
  });
});

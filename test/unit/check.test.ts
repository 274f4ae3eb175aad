// check, repair and orphan adoption at the library level: the pieces the CLI suites build on.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClassicLevel } from "classic-level";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkRepository, heldRepository } from "../../src/check/checker.js";
import { PackVerifier } from "../../src/check/pack-verifier.js";
import { parsePackSubset, selectPacks } from "../../src/check/pack-subset.js";
import { repairIndex } from "../../src/check/repair-index.js";
import { repairSnapshots } from "../../src/check/repair-snapshots.js";
import { InterruptedError, UsageError } from "../../src/errors.js";
import type { Backend } from "../../src/store/backend/backend.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { withRequiredCallsOnly } from "../support/backends.js";
import { encodeBlob } from "../../src/store/blob-codec.js";
import { compressDocument } from "../../src/store/document-codec.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import { serializeIndexFile } from "../../src/store/index/index-file.js";
import { listIndexFiles, readIndexFile } from "../../src/store/index/index-sync.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import { PackBuilder } from "../../src/store/pack/pack-builder.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import type { Repository } from "../../src/store/repository.js";
import { PROGRAM_VERSION } from "../../src/version.js";

const MiB = 1024 * 1024;
const DIST_VERIFIER = fileURLToPath(new URL("../../dist/src/check/pack-verifier.js", import.meta.url));
let dir: string;
let repoPath: string;
let repo: Repository | undefined;

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "cairn-check-unit-"));
  repoPath = join(dir, "repo");
  await initLocalRepository(repoPath, { packSize: MiB });
});

afterEach(async () => {
  await repo?.close();
  repo = undefined;
  await fs.rm(dir, { recursive: true, force: true });
});

async function open(): Promise<Repository> {
  await repo?.close();
  repo = await openLocalRepository(repoPath);
  return repo;
}

async function close(): Promise<void> {
  await repo?.close();
  repo = undefined;
}

/** A snapshot of one directory holding files with the given contents (each one blob). */
async function snapshotOf(r: Repository, files: Record<string, Buffer>): Promise<{ snapshot: Id; blobs: Record<string, Id> }> {
  const blobs: Record<string, Id> = {};
  const nodes = [];
  for (const [name, content] of Object.entries(files)) {
    blobs[name] = (await r.saveBlob("data", content)).id;
    nodes.push({ name, type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: "2026-01-01T00:00:00.000000000Z", size: content.length, content: [blobs[name]] });
  }
  const sub = await r.saveTree(nodes);
  const root = await r.saveTree([{ name: "data", type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: "2026-01-01T00:00:00.000000000Z", subtree: sub }]);
  const snapshot = await r.saveSnapshot({ time: new Date().toISOString(), tree: root, paths: ["/data"], hostname: "h", username: "u", tags: [], programVersion: PROGRAM_VERSION });
  return { snapshot, blobs };
}

describe("--read-data-subset", () => {
  const parse = (text: string) => parsePackSubset(text, (t) => Number.parseInt(t, 10) * (t.endsWith("M") ? MiB : 1));
  const packs = new Map<Id, number>(Array.from({ length: 500 }, (_, i) => [hashBytes(Buffer.from(String(i))), 1000 + i]));

  it("parses N/M, P% and sizes, and refuses the rest", () => {
    expect(parse("2/5")).toEqual({ kind: "bucket", n: 2, m: 5 });
    expect(parse("12.5%")).toEqual({ kind: "percent", percent: 12.5 });
    expect(parse("50M")).toEqual({ kind: "size", bytes: 50 * MiB });
    for (const bad of ["0/5", "6/5", "1/300", "0%", "101%"]) expect(() => parse(bad)).toThrow(UsageError);
  });

  it("N/M buckets are deterministic and M runs read every pack exactly once", () => {
    const seen: Id[] = [];
    for (let n = 1; n <= 7; n++) {
      const bucket = selectPacks(packs, { kind: "bucket", n, m: 7 });
      expect(selectPacks(packs, { kind: "bucket", n, m: 7 })).toEqual(bucket);
      seen.push(...bucket);
    }
    expect(seen.sort()).toEqual([...packs.keys()].sort());
  });

  it("P% picks that share of the packs and a size picks packs until it is reached", () => {
    expect(selectPacks(packs, { kind: "percent", percent: 10 })).toHaveLength(50);
    const chosen = selectPacks(packs, { kind: "size", bytes: 20_000 });
    const total = chosen.reduce((n, id) => n + packs.get(id)!, 0);
    expect(total).toBeGreaterThanOrEqual(20_000);
    expect(total - packs.get(chosen[0]!)!).toBeLessThan(20_000 + 1500);
  });
});

describe("adopting packs an interrupted writer left unindexed", () => {
  async function writeOrphanPack(blobs: Buffer[]): Promise<Id> {
    const builder = new PackBuilder("data");
    for (const blob of blobs) builder.add(hashBytes(blob), blob.length, encodeBlob(blob, 3));
    const pack = builder.finish();
    await repo!.backend.put(packKey(pack.id), pack.bytes);
    return pack.id;
  }

  it("indexes them before the next write, so their blobs are not stored again", async () => {
    const r = await open();
    const blobs = [randomBytes(5000), randomBytes(7000)];
    const pack = await writeOrphanPack(blobs);
    // What a killed writer leaves: its pack, its marker, and a half-written temporary file.
    await r.index.setWriterMarker({ pid: 999999, hostname: "elsewhere", since: "2026-01-01T00:00:00Z" });
    await fs.writeFile(join(repoPath, "data", pack.slice(0, 2), ".tmp-0123456789abcdef"), "half a pack");
    await close();

    const messages: string[] = [];
    repo = await openLocalRepository(repoPath, { onInfo: (m) => messages.push(m) });
    expect(repo.hasBlob(hashBytes(blobs[0]!))).toBe(false);
    expect((await repo.saveBlob("data", blobs[0]!)).added).toBe(false);
    expect((await repo.saveBlob("data", blobs[1]!)).added).toBe(false);
    expect(messages).toEqual([expect.stringContaining("indexed 1 pack(s) (2 blobs) left by an interrupted writer on elsewhere")]);
    expect(repo.lookupBlob(hashBytes(blobs[1]!))?.packId).toBe(pack);
    expect(await fs.readdir(join(repoPath, "data", pack.slice(0, 2)))).toEqual([pack]);
    await close();

    // The session ended cleanly: no marker, so the next session does not even list data/.
    const again = await open();
    expect(again.index.writerMarker()).toBeUndefined();
    const report = await checkRepository(heldRepository(again));
    expect(report.findings).toEqual([]);
  });

  it("leaves them alone when no writer was interrupted (check warns about them)", async () => {
    const r = await open();
    const pack = await writeOrphanPack([randomBytes(3000)]);
    await r.saveBlob("data", randomBytes(100));
    await r.flush();
    const report = await checkRepository(heldRepository(r));
    expect(report.findings.map((f) => [f.level, f.kind, f.pack])).toEqual([["warning", "pack-unindexed", pack]]);
    expect(report.errors).toBe(0);
  });
});

describe("checkRepository", () => {
  it("finds an index database that disagrees with the index files", async () => {
    const r = await open();
    await snapshotOf(r, { a: randomBytes(1000) });
    const fake = hashBytes(Buffer.from("no such index file"));
    const pack = { id: hashBytes(Buffer.from("no such pack")), type: "data" as const, size: 100, entries: [] };
    await r.index.addIndexFile(fake, [pack]);
    const report = await checkRepository(heldRepository(r));
    expect(report.findings.map((f) => f.kind)).toEqual(["index-db-mismatch", "index-db-mismatch"]);
    expect(report.findings[0]!.indexFile).toBe(fake);
    expect(report.findings[1]!.pack).toBe(pack.id);
  });

  it("finds an index database whose record of a pack's blobs disagrees with the index files (prune takes packs out by it)", async () => {
    const r = await open();
    await snapshotOf(r, { a: randomBytes(1000) });
    let pack: string | undefined;
    for await (const summary of r.index.packs()) if (summary.type === "data") pack = summary.id;
    const level = (r.index as unknown as { db: { getSync: (key: string) => Uint8Array; put: (key: string, value: Uint8Array) => Promise<void> } }).db;
    const record = Buffer.from(level.getSync(`c/${pack!}`));
    record[record.length - 1]! ^= 1;
    await level.put(`c/${pack!}`, record);
    const report = await checkRepository(heldRepository(r));
    expect(report.findings.map((f) => [f.kind, f.pack])).toEqual([["index-db-mismatch", pack]]);
    expect(report.findings[0]!.message).toMatch(/records the blobs of pack .* differently \(cairn repair index rebuilds it\)/);
  });

  it("reports a pack two index files list differently as a conflict, not as an index database that disagrees", async () => {
    const r = await open();
    await snapshotOf(r, { a: randomBytes(1000), b: randomBytes(1000) });
    await r.flush();
    const [file] = await listIndexFiles(r.backend);
    const data = (await readIndexFile(r.backend, file!)).packs.find((pack) => pack.type === "data")!;
    // An interrupted repair index leaves a listing beside the old one: here one with a blob left out.
    const stored = compressDocument(serializeIndexFile({ packs: [{ ...data, entries: data.entries.slice(1) }] }));
    await r.backend.put(`index/${hashBytes(stored)}`, stored);
    await close();
    const reopened = await open();
    expect(reopened.indexStatus.sync).toBe("rebuilt");
    const report = await checkRepository(heldRepository(reopened));
    expect(report.findings.map((f) => f.kind)).toContain("index-conflict");
    expect(report.findings.filter((f) => f.kind === "index-db-mismatch")).toEqual([]);
  });

  it("reports a damaged index file, which opening skips with a warning instead of failing", async () => {
    const r = await open();
    const { blobs } = await snapshotOf(r, { a: randomBytes(1000) });
    await close();
    const garbage = compressDocument(Buffer.from("{ not json"));
    await fs.writeFile(join(repoPath, "index", hashBytes(garbage)), garbage);
    const warnings: string[] = [];
    repo = await openLocalRepository(repoPath, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringContaining("not valid JSON")]);
    expect(repo.hasBlob(blobs.a!)).toBe(true);
    const report = await checkRepository(heldRepository(repo));
    expect(report.findings.map((f) => [f.kind, f.indexFile])).toEqual([["index-file-damaged", hashBytes(garbage)]]);
  });

  it("stops between packs when its signal is aborted, and between trees", async () => {
    const r = await open();
    // Packs of 1 MiB: one per file.
    await snapshotOf(r, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, randomBytes(1.5 * MiB)])));
    const packs = (await fs.readdir(join(repoPath, "data"), { recursive: true })).filter((name) => /[0-9a-f]{64}$/.test(name)).length;
    expect(packs).toBeGreaterThanOrEqual(8);
    const reading = new AbortController();
    let read = 0;
    const stopped = checkRepository(heldRepository(r), {
      readData: { kind: "all" },
      signal: reading.signal,
      onPackRead: () => {
        read++;
        reading.abort();
      },
    });
    await expect(stopped).rejects.toThrow(InterruptedError);
    // Packs already being read when the signal came are finished; no other is started.
    expect(read).toBeLessThanOrEqual(2);
    await expect(checkRepository(heldRepository(r), { signal: AbortSignal.abort() })).rejects.toThrow(InterruptedError);
    expect((await checkRepository(heldRepository(r), { readData: { kind: "all" } })).packsRead).toBe(packs);
  });
});

describe("repairIndex", () => {
  it("is idempotent: a second run rewrites the same index file and keeps it", async () => {
    const r = await open();
    await snapshotOf(r, { a: randomBytes(3000), b: randomBytes(4000) });
    for (let i = 0; i < 2; i++) {
      const report = await repairIndex(r);
      expect(report).toMatchObject({ packs: 2, indexed: 2, salvaged: [], missing: [], indexFilesWritten: 1 });
      expect(await listIndexFiles(r.backend)).toHaveLength(1);
      expect((await checkRepository(heldRepository(r))).findings).toEqual([]);
    }
  });

  it("interrupted at its first pack write, loses nothing: a rerun still recovers the raw blobs of a pack whose footer is gone", async () => {
    const r = await open();
    // Random data is stored raw: without the footer, only the index files say where such blobs begin.
    const files = Object.fromEntries(["a", "b", "c", "d"].map((name) => [name, randomBytes(200_000)]));
    const { blobs } = await snapshotOf(r, files);
    await r.flush();
    const pack = r.lookupBlob(blobs.a!)!.packId;
    const path = join(repoPath, "data", pack.slice(0, 2), pack);
    const bytes = await fs.readFile(path);
    bytes.fill(0, bytes.length - 12);
    await fs.chmod(path, 0o644);
    await fs.writeFile(path, bytes);

    // The process dies as the repair writes its first pack (the salvaged blobs).
    const put = r.backend.put.bind(r.backend);
    (r.backend as { put: Backend["put"] }).put = async (key, data) => {
      if (key.startsWith("data/")) throw new Error("killed");
      return put(key, data);
    };
    await expect(repairIndex(r)).rejects.toThrow(/killed/);
    await close().catch(() => {});

    const report = await repairIndex(await open());
    expect(report.salvaged).toMatchObject([{ pack, blobsRecovered: 4, blobsLost: [] }]);
    for (const [name, content] of Object.entries(files)) expect((await repo!.loadBlob(blobs[name]!)).equals(content)).toBe(true);
    expect((await checkRepository(heldRepository(repo!))).errors).toBe(0);
  });
});

describe("repairIndex, a blob whose other copy is in a pack that is gone", () => {
  it("stores the blob salvaged from the damaged pack again (the old index's word on the copy is not enough)", async () => {
    const r = await open();
    const content = randomBytes(200_000);
    const { blobs } = await snapshotOf(r, { a: content, b: randomBytes(200_000) });
    await r.flush();
    const damagedPack = r.lookupBlob(blobs.a!)!.packId;
    await r.saveBlob("data", Buffer.from(content), blobs.a!, { evenIfIndexed: true });
    await r.flush();
    const copy = (await r.index.copiesOf(blobs.a!))[0]!.packId;
    expect(copy).not.toBe(damagedPack);
    await fs.rm(join(repoPath, "data", copy.slice(0, 2), copy));
    const path = join(repoPath, "data", damagedPack.slice(0, 2), damagedPack);
    const bytes = await fs.readFile(path);
    bytes.fill(0, bytes.length - 12);
    await fs.chmod(path, 0o644);
    await fs.writeFile(path, bytes);

    const report = await repairIndex(r);
    expect(report.salvaged).toMatchObject([{ pack: damagedPack, blobsRecovered: 2, blobsLost: [] }]);
    expect((await r.loadBlob(blobs.a!)).equals(content)).toBe(true);
    expect((await checkRepository(heldRepository(r), { readData: { kind: "all" } })).errors).toBe(0);
  });
});

describe("repairSnapshots", () => {
  it("cuts files at their first missing blob and marks them; a dry run writes nothing", async () => {
    const r = await open();
    const first = randomBytes(2 * MiB);
    const lostBlob = randomBytes(2 * MiB);
    const firstId = (await r.saveBlob("data", first)).id;
    await r.flush();
    const lostId = (await r.saveBlob("data", lostBlob)).id;
    await r.flush();
    const file = { name: "f", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: "2026-01-01T00:00:00.000000000Z", size: 4 * MiB, content: [firstId, lostId, firstId] };
    const root = await r.saveTree([file]);
    const original = await r.saveSnapshot({ time: "2026-01-01T00:00:00.000Z", tree: root, paths: ["/"], hostname: "h", username: "u", tags: [], programVersion: PROGRAM_VERSION });
    await r.backend.delete(packKey(r.lookupBlob(lostId)!.packId));

    const dry = await repairSnapshots(r, { dryRun: true });
    expect(dry.repaired.map((s) => s.repairs)).toEqual([[{ path: "/f", action: "file-cut", keptSize: 2 * MiB, originalSize: 4 * MiB, blob: lostId, reason: expect.stringContaining("is in a missing pack") }]]);
    expect((await r.listSnapshots()).map((s) => s.id)).toEqual([original]);

    const done = await repairSnapshots(r, { forget: true });
    const copy = done.repaired[0]!.repaired!;
    expect((await r.listSnapshots()).map((s) => s.id)).toEqual([copy]);
    const repaired = await r.loadSnapshot(copy);
    expect(repaired.original).toBe(original);
    expect(Date.parse(repaired.time)).toBe(Date.parse("2026-01-01T00:00:00.000Z") + 1);
    const [node] = await r.loadTree(repaired.tree);
    expect(node).toMatchObject({ name: "f", size: 2 * MiB, content: [firstId], damage: { originalSize: 4 * MiB, missingBlob: lostId } });
    await repairIndex(r);
    expect((await checkRepository(heldRepository(r))).errors).toBe(0);
    expect(await listIndexFiles(r.backend)).toHaveLength(1);
  });

  it("a rerun after a run that wrote the repaired copy but did not delete the original finishes the job", async () => {
    const r = await open();
    const kept = (await r.saveBlob("data", randomBytes(2 * MiB))).id;
    await r.flush();
    const lost = (await r.saveBlob("data", randomBytes(2 * MiB))).id;
    await r.flush();
    const file = { name: "f", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: "2026-01-01T00:00:00.000000000Z", size: 4 * MiB, content: [kept, lost] };
    const original = await r.saveSnapshot({ time: "2026-01-01T00:00:00.000Z", tree: await r.saveTree([file]), paths: ["/"], hostname: "h", username: "u", tags: [], programVersion: PROGRAM_VERSION });
    await r.backend.delete(packKey(r.lookupBlob(lost)!.packId));
    // Without --forget the original stays: what a run killed between the write and the delete leaves.
    const copy = (await repairSnapshots(r)).repaired[0]!.repaired!;
    expect((await r.listSnapshots()).map((s) => s.id).sort()).toEqual([original, copy].sort());
    // The rerun makes the same copy again (same bytes, same name): that is no error.
    await repairSnapshots(r, { forget: true });
    expect((await r.listSnapshots()).map((s) => s.id)).toEqual([copy]);
  });
});

describe("repairSnapshots with a damaged index database", () => {
  it("refuses to cut anything while the database misses blobs the index files list, and repair index mends it", async () => {
    const r = await open();
    const { snapshot, blobs } = await snapshotOf(r, { a: randomBytes(3000), b: randomBytes(4000) });
    await close();
    // A damaged disk block of the cache: the entry of one intact, indexed blob is gone.
    const db = new ClassicLevel(join(repoPath, "index.db"));
    await db.del(`b/${blobs.a!}`);
    await db.close();

    const reopened = await open();
    await expect(repairSnapshots(reopened, { forget: true })).rejects.toThrow(/the index database misses 1 blobs the index files list \(it is a cache, and damaged\): run cairn repair index, which rebuilds it, then repair snapshots again; no snapshot was changed/);
    expect((await reopened.listSnapshots()).map((s) => s.id)).toEqual([snapshot]);
    await repairIndex(reopened);
    expect((await repairSnapshots(reopened, { forget: true })).repaired).toEqual([]);
    expect((await reopened.listSnapshots()).map((s) => s.id)).toEqual([snapshot]);
  });
});

describe("PackVerifier", () => {
  /** A pack of `blobs` in `backend`: its id, size and entries. */
  async function storedPack(backend: Backend, blobs: Buffer[]) {
    const builder = new PackBuilder("data");
    for (const blob of blobs) builder.add(hashBytes(blob), blob.length, encodeBlob(blob, 3));
    const pack = builder.finish();
    await backend.put(packKey(pack.id), pack.bytes);
    return { id: pack.id, size: pack.bytes.length, entries: pack.entries };
  }

  it("verifies packs of different sizes one after another, inline or on workers, reading into its buffers or not", async () => {
    await fs.mkdir(join(dir, "packs"));
    const local = new LocalBackend(join(dir, "packs"));
    const withoutReadInto = withRequiredCallsOnly(local);
    const large = await storedPack(local, [Buffer.alloc(300_000, 7), randomBytes(200_000)]);
    const small = await storedPack(local, [Buffer.from("a".repeat(5000)), randomBytes(3000)]);
    // The small pack's second blob damaged: a buffer left over from the large pack must not hide it.
    const damaged = await storedPack(local, [randomBytes(4000), Buffer.from("b".repeat(9000))]);
    const damagedPath = join(dir, "packs", packKey(damaged.id));
    const bytes = await fs.readFile(damagedPath);
    bytes[damaged.entries[1]!.offset + 5]! ^= 0xff;
    await fs.rm(damagedPath);
    await fs.writeFile(damagedPath, bytes);
    // The compiled verifier has its worker script beside it (the TypeScript sources verify inline).
    const { PackVerifier: OnWorkers } = (await import(DIST_VERIFIER)) as { PackVerifier: typeof PackVerifier };
    for (const [backend, verifier] of [local, withoutReadInto].flatMap((b) => [[b, new PackVerifier()], [b, new OnWorkers()]] as const)) {
      try {
        for (const pack of [large, small, large, small]) {
          const result = await verifier.verify(backend, pack.id, pack.size, pack.entries);
          expect(result).toEqual({ hashMatches: true, bytesRead: pack.size, damaged: [] });
        }
        const result = await verifier.verify(backend, damaged.id, damaged.size, damaged.entries);
        expect(result.hashMatches).toBe(false);
        expect(result.damaged.map((d) => d.entry.id)).toEqual([damaged.entries[1]!.id]);
      } finally {
        await verifier.close();
      }
    }
  });
});

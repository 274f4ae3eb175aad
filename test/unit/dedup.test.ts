// Deduplication: unchanged data is never stored twice, and a small edit to a large file costs
// only the chunks around the edit.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runBackup, type BackupResult } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { DEFAULT_CHUNKER_PARAMS } from "../../src/chunker/index.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { pseudoRandomBytes } from "../support/test-data.js";
import { pastClockTick } from "../support/clock-tick.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-dedup-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function packKeys(repo: Repository): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const info of repo.backend.list("data/")) keys.add(info.key);
  return keys;
}

/** Plaintext bytes of all data blobs (the summary's dataAdded counts tree blobs too). */
async function dataBytes(repo: Repository): Promise<number> {
  let total = 0;
  for await (const [, location] of repo.index.blobs()) if (location.type === "data") total += location.plainLength;
  return total;
}

async function packTypes(repo: Repository): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  for await (const pack of repo.index.packs()) types.set(`data/${pack.id.slice(0, 2)}/${pack.id}`, pack.type);
  return types;
}

async function expectRestoresTo(repo: Repository, result: BackupResult, file: string, expected: Buffer): Promise<void> {
  const target = join(work, `restore-${result.snapshotId!.slice(0, 12)}`);
  const restored = await restoreSnapshot(repo, result.snapshot.tree, { target, subpath: file.slice(0, file.lastIndexOf("/")) });
  expect(restored.damaged).toEqual([]);
  expect((await fs.readFile(join(target, file.slice(file.lastIndexOf("/") + 1)))).equals(expected)).toBe(true);
}

describe("the same tree twice", () => {
  let dir: string;
  let repo: Repository;

  beforeEach(async () => {
    dir = await fs.mkdtemp(join(work, "same-"));
    await initLocalRepository(join(dir, "repo"), { chunker: { minSize: 4 * KiB, avgSize: 16 * KiB, maxSize: 64 * KiB }, packSize: 1 * MiB });
    repo = await openLocalRepository(join(dir, "repo"));
    const src = join(dir, "src");
    await fs.mkdir(join(src, "sub", "deeper"), { recursive: true });
    await fs.writeFile(join(src, "big"), pseudoRandomBytes(3 * MiB, 1));
    await fs.writeFile(join(src, "sub", "copy-of-big"), pseudoRandomBytes(3 * MiB, 1));
    for (let i = 0; i < 50; i++) await fs.writeFile(join(src, "sub", "deeper", `f${i}`), pseudoRandomBytes(i * 997, i + 10));
    await fs.writeFile(join(src, "empty"), "");
    await pastClockTick();
  });
  afterEach(async () => {
    await repo.close();
  });

  it.each([
    ["with the first as parent (unchanged files are not read)", true],
    ["without a parent (every file read again)", false],
  ])("writes no new data pack %s", async (_name, useParent) => {
    const src = join(dir, "src");
    const first = await runBackup(repo, { sources: [new PathSource(src)] });
    // The copy deduplicated against the original: 3 MiB stored once.
    expect(await dataBytes(repo)).toBe(3 * MiB + (49 * 50 * 997) / 2);
    const packsBefore = await packKeys(repo);
    expect([...(await packTypes(repo)).values()].filter((t) => t === "data").length).toBeGreaterThan(1);

    const parent = useParent ? { parent: await repo.loadSnapshot(first.snapshotId!) } : {};
    const second = await runBackup(repo, { sources: [new PathSource(src)], ...parent });
    expect(second.snapshot.summary!.dataBlobs).toBe(0);
    expect(await dataBytes(repo)).toBe(3 * MiB + (49 * 50 * 997) / 2);
    expect(second.counters.filesRead).toBe(useParent ? 0 : 53);
    const types = await packTypes(repo);
    const newPacks = [...(await packKeys(repo))].filter((k) => !packsBefore.has(k));
    // At most one tree pack, for the directories above src whose times moved meanwhile.
    expect(newPacks.map((k) => types.get(k))).toEqual(newPacks.length ? ["tree"] : []);
    expect((await findNode(repo, second.snapshot.tree, src))!.subtree).toBe((await findNode(repo, first.snapshot.tree, src))!.subtree);
  });
});

describe("a small edit to a large file", () => {
  const { maxSize } = DEFAULT_CHUNKER_PARAMS;
  const original = pseudoRandomBytes(8 * MiB, 2024);
  let dir: string;
  let repo: Repository;
  let file: string;
  let first: BackupResult;

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(work, "edit-"));
    await initLocalRepository(join(dir, "repo"));
    repo = await openLocalRepository(join(dir, "repo"));
    file = join(dir, "src", "disk.img");
    await fs.mkdir(join(dir, "src"));
    await fs.writeFile(file, original);
    first = await runBackup(repo, { sources: [new PathSource(join(dir, "src"))] });
    // Default parameters (avg 256 KiB): many chunks, so the bound below means something.
    expect(first.snapshot.summary!.dataBlobs).toBeGreaterThanOrEqual(4);
  });
  afterAll(async () => {
    await repo.close();
  });

  async function backUpEdited(edited: Buffer): Promise<BackupResult> {
    await fs.writeFile(file, edited);
    const parent = await repo.loadSnapshot(first.snapshotId!);
    return runBackup(repo, { sources: [new PathSource(join(dir, "src"))], parent });
  }

  it.each([
    ["100 bytes inserted in the middle", () => Buffer.concat([original.subarray(0, 4 * MiB + 12345), pseudoRandomBytes(100, 7), original.subarray(4 * MiB + 12345)])],
    ["1 byte changed in the middle", () => {
      const edited = Buffer.from(original);
      edited[5 * MiB] ^= 0x55;
      return edited;
    }],
    ["100 bytes removed from the middle", () => Buffer.concat([original.subarray(0, 3 * MiB), original.subarray(3 * MiB + 100)])],
    ["100 bytes prepended", () => Buffer.concat([pseudoRandomBytes(100, 8), original])],
    ["100 bytes appended", () => Buffer.concat([original, pseudoRandomBytes(100, 9)])],
  ])("stores only the chunks around the edit: %s", async (_name, edit) => {
    const edited = edit();
    const second = await backUpEdited(edited);
    const s = second.snapshot.summary!;
    expect(s.filesChanged).toBe(1);
    expect(s.dataBlobs).toBeGreaterThanOrEqual(1);
    expect(s.dataBlobs).toBeLessThanOrEqual(2);
    expect(s.dataAdded).toBeLessThan(2 * maxSize);
    await expectRestoresTo(repo, first, file, original);
    await expectRestoresTo(repo, second, file, edited);
  });
});

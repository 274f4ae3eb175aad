// Prune's choice among a blob's copies (src/prune/duplicate-copies.ts) never points the index
// database at a pack cut short or at a damaged copy, never serves a tree from a copy stored as
// file data, and agrees with a rebuild, a repair and check afterwards; readers and check fall
// back to another copy when the one the database names is damaged.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkRepository, heldRepository } from "../../src/check/checker.js";
import { repairIndex } from "../../src/check/repair-index.js";
import { IntegrityError, InterruptedError } from "../../src/errors.js";
import { removeSnapshots } from "../../src/prune/forget.js";
import { prune, type PruneOptions } from "../../src/prune/prune.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { hashBytes } from "../../src/store/id.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import { leftByKilledPrune, listFiles } from "../support/killed-prune.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";
import { manifest } from "../support/test-data.js";

const SMALL = { packSize: 1024 * 1024, chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384 } };
const EXACT: PruneOptions = { dryRun: false, maxUnused: { percent: 0 }, maxRepackSize: Infinity };
const fixtures: TestRepository[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

/** Two generations, the first forgotten; then what a prune killed before its deletions leaves. */
async function killedPruneRepository() {
  const f = await createTestRepository(SMALL);
  fixtures.push(f);
  const src = join(f.work, "src");
  await fs.mkdir(src);
  for (let i = 0; i < 150; i++) await fs.writeFile(join(src, `f${i}`), randomBytes(16 * 1024));
  const s1 = await backup(f.repo, [src], { time: new Date("2024-01-01T00:00:00Z") });
  for (let i = 0; i < 150; i++) if (i % 3 !== 0) await fs.writeFile(join(src, `f${i}`), randomBytes(16 * 1024));
  const s2 = await backup(f.repo, [src], { time: new Date("2024-01-02T00:00:00Z") });
  const m2 = await manifest(src);
  await removeSnapshots(f.repo.backend, [s1]);
  const { carried } = await leftByKilledPrune(f, EXACT);
  await f.reopen();
  return { f, src, s2, m2, newPacks: carried.filter((file) => file.startsWith("data/")).map((file) => file.split("/").pop()!) };
}

/**
 * Flips a byte in the middle of a few blobs stored twice, in their copy the database names or
 * in the other one, one blob per pack: the packs keep their size and trailer. Returns the blobs.
 */
async function damageCopies(f: TestRepository, which: "named" | "other"): Promise<string[]> {
  const damaged: string[] = [];
  const flipped = new Set<string>();
  for await (const [id, other] of f.repo.index.duplicates()) {
    const copy = which === "named" ? f.repo.index.lookup(id)! : other;
    if (flipped.has(copy.packId) || damaged.length >= 3) continue;
    const file = join(f.repoPath, packKey(copy.packId));
    const bytes = await fs.readFile(file);
    bytes[copy.offset + (copy.storedLength >> 1)]! ^= 0xff;
    await fs.chmod(file, 0o600);
    await fs.writeFile(file, bytes);
    flipped.add(copy.packId);
    damaged.push(id);
  }
  return damaged;
}

async function restores(f: TestRepository, tree: string, src: string, expected: Record<string, string>): Promise<void> {
  const target = await fs.mkdtemp(join(f.work, "restore-"));
  const result = await restoreSnapshot(f.repo, tree, { target });
  expect(result.damaged.map((d) => d.path)).toEqual([]);
  expect(await manifest(join(target, src))).toEqual(expected);
  await fs.rm(target, { recursive: true, force: true });
}

describe("prune with blobs stored twice", () => {
  it("a prune (even a dry run) that refuses to run leaves the index database naming intact copies", async () => {
    const { f, src, s2, m2, newPacks } = await killedPruneRepository();
    // Every blob the new packs hold is also in an old pack, which the database names.
    const victim = newPacks[0]!;
    expect(victim).toBeDefined();
    let locatedInVictim = 0;
    for await (const [, loc] of f.repo.index.blobs()) if (loc.packId === victim) locatedInVictim++;
    expect(locatedInVictim).toBe(0);
    // The new pack is cut short (a full disk, a partial copy): its copies are damaged.
    const file = join(f.repoPath, packKey(victim));
    const bytes = await fs.readFile(file);
    await fs.chmod(file, 0o600);
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await f.reopen();
    await restores(f, s2.tree, src, m2); // the old copies serve every blob
    const damagedFiles = async () => (await checkRepository(heldRepository(f.repo))).findings.filter((x) => x.kind === "file-damaged").length;
    expect(await damagedFiles()).toBe(0);

    await expect(prune(f.repo, { ...EXACT, dryRun: true })).rejects.toThrow(IntegrityError);
    // Nothing on disk changed, so check must say what it said before.
    expect(await damagedFiles(), "files check reports damaged after the refused dry run").toBe(0);
    // Same repository, same bytes on disk: the snapshot must still restore.
    await restores(f, s2.tree, src, m2);
  });

  it("when the copy the database names is damaged, restore, loadBlob and check use the other copy", async () => {
    const { f, src, s2, m2 } = await killedPruneRepository();
    const damagedIds = await damageCopies(f, "named");
    expect(damagedIds.length).toBeGreaterThan(0);
    await f.reopen();
    await restores(f, s2.tree, src, m2);
    for (const id of damagedIds) expect(hashBytes(await f.repo.loadBlob(id))).toBe(id);
    const findings = (await checkRepository(heldRepository(f.repo), { readData: { kind: "all" } })).findings;
    // The damage is reported, for repair; no file is, since every blob still has a good copy.
    expect(findings.filter((x) => x.level === "error").length).toBeGreaterThan(0);
    expect(findings.filter((x) => x.kind === "file-damaged")).toEqual([]);
  });

  it("a blob written from its other copy after its file got its metadata: the file still ends with its recorded mode and times", async () => {
    const { f, src, s2 } = await killedPruneRepository();
    expect((await damageCopies(f, "named")).length).toBeGreaterThan(0);
    await f.reopen();
    const target = await fs.mkdtemp(join(f.work, "restore-"));
    const result = await restoreSnapshot(f.repo, s2.tree, { target });
    expect(result.damaged).toEqual([]);
    for (const name of await fs.readdir(src)) {
      const [want, got] = await Promise.all([fs.stat(join(src, name), { bigint: true }), fs.stat(join(target, src, name), { bigint: true })]);
      expect((await fs.readFile(join(target, src, name))).equals(await fs.readFile(join(src, name))), name).toBe(true);
      expect([got.mode, got.mtimeNs], name).toEqual([want.mode, want.mtimeNs]);
    }
  });

  it("a restore interrupted before the other copies are written leaves no file looking whole: a rerun with overwrite if-changed completes them", async () => {
    const { f, src, s2, m2 } = await killedPruneRepository();
    expect((await damageCopies(f, "named")).length).toBeGreaterThan(0);
    await f.reopen();
    const target = await fs.mkdtemp(join(f.work, "restore-"));
    const controller = new AbortController();
    const readOtherCopy = f.repo.readOtherCopy.bind(f.repo);
    // Ctrl-C while the first other copy is read.
    f.repo.readOtherCopy = async () => {
      controller.abort();
      throw new InterruptedError();
    };
    await expect(restoreSnapshot(f.repo, s2.tree, { target, signal: controller.signal })).rejects.toThrow(InterruptedError);
    f.repo.readOtherCopy = readOtherCopy;
    const again = await restoreSnapshot(f.repo, s2.tree, { target, overwrite: "if-changed" });
    expect(again.damaged).toEqual([]);
    expect(await manifest(join(target, src))).toEqual(m2);
  });

  it("prune keeps a copy that reads back: a damaged copy in a denser pack does not cost the good one", async () => {
    const { f, src, s2, m2 } = await killedPruneRepository();
    // The new packs are the denser: prune would keep their copies and delete the old packs.
    const damagedIds = await damageCopies(f, "other");
    expect(damagedIds.length).toBeGreaterThan(0);
    await f.reopen();
    await prune(f.repo, EXACT);
    for (const id of damagedIds) expect(hashBytes(await f.repo.loadBlob(id))).toBe(id);
    const after = (await checkRepository(heldRepository(f.repo), { readData: { kind: "all" } })).findings;
    expect(after.filter((x) => x.kind === "file-damaged")).toEqual([]);
    await restores(f, s2.tree, src, m2);
  });

  it("a repack that writes a damaged pack's bytes again replaces the damaged file instead of keeping it", async () => {
    const { f, src, s2, m2, newPacks } = await killedPruneRepository();
    // The blob a new pack holds first: once its copy there is damaged, prune names its old copy,
    // repacks that old pack first (the most wasteful) and then the new pack, which writes the
    // new pack's original bytes again, under the name the damaged file has.
    const victim = newPacks.find((id) => id !== undefined)!;
    const file = join(f.repoPath, packKey(victim));
    let first: string | undefined;
    for await (const [id, loc] of f.repo.index.duplicates()) if (loc.packId === victim && loc.offset === 0) first = id;
    expect(first).toBeDefined();
    const copy = (await f.repo.index.copiesOf(first!)).find((c) => c.packId === victim)!;
    const bytes = await fs.readFile(file);
    bytes[copy.offset + (copy.storedLength >> 1)]! ^= 0xff;
    await fs.chmod(file, 0o600);
    await fs.writeFile(file, bytes);
    await f.reopen();
    await prune(f.repo, EXACT);
    // The scenario happened: the pack under that name was written again, whole this time.
    expect(hashBytes(await fs.readFile(file))).toBe(victim);
    expect(hashBytes(await f.repo.loadBlob(first!))).toBe(first);
    const errors = (await checkRepository(heldRepository(f.repo), { readData: { kind: "all" } })).findings.filter((x) => x.level === "error");
    expect(errors).toEqual([]);
    await restores(f, s2.tree, src, m2);
  });

  it("after a dry run relocates, check passes; the real prune, a rebuild and check after it agree", async () => {
    const { f, src, s2, m2 } = await killedPruneRepository();
    const errors = async () => (await checkRepository(heldRepository(f.repo), { readData: { kind: "all" } })).findings.filter((x) => x.level === "error").map((x) => x.kind);
    expect(await errors()).toEqual([]);
    const dry = await prune(f.repo, { ...EXACT, dryRun: true });
    expect(await errors()).toEqual([]);
    // A backup ingests a new index file on top of the relocated database.
    await fs.writeFile(join(src, "extra"), randomBytes(50 * 1024));
    await backup(f.repo, [src], { time: new Date("2024-01-03T00:00:00Z") });
    expect(await errors()).toEqual([]);
    const real = await prune(f.repo, EXACT);
    expect(real.plan.remove.length).toBeGreaterThanOrEqual(dry.plan.remove.length);
    expect(await errors()).toEqual([]);
    await restores(f, s2.tree, src, m2);
    await f.close();
    await fs.rm(join(f.repoPath, "index.db"), { recursive: true });
    await f.reopen();
    expect(await errors()).toEqual([]);
    await restores(f, s2.tree, src, m2);
    const again = await prune(f.repo, EXACT);
    expect(again.packsRemoved).toBe(0);
  });

  it("a blob id stored both as a tree and as file data: prune keeps the tree readable", async () => {
    const f = await createTestRepository(SMALL);
    fixtures.push(f);
    const dir = join(f.work, "dir");
    await fs.mkdir(dir);
    // Files below the chunker's minimum are one blob each, and so is the listing's JSON, which
    // must fit in one chunk to come back as a data blob named like the tree (larger, it was
    // sometimes cut in two, depending on the random content's ids).
    for (let i = 0; i < 2; i++) await fs.writeFile(join(dir, `x${i}`), randomBytes(500));
    const s1 = await backup(f.repo, [dir], { time: new Date("2024-01-01T00:00:00Z") });
    // The tree of dir, found by walking down from the snapshot's root.
    let tree = s1.tree;
    for (;;) {
      const nodes = await f.repo.loadTree(tree);
      const sub = nodes.find((n) => n.subtree)?.subtree;
      if (nodes.some((n) => n.name === "x0") || !sub) break;
      tree = sub;
    }
    const plain = await f.repo.loadBlob(tree);
    expect(plain.length).toBeLessThan(SMALL.chunker.minSize);
    // Another host (its own index database) backs up a file whose bytes are that tree's.
    await f.close();
    const other = join(f.work, "other");
    await fs.cp(f.repoPath, other, { recursive: true });
    await fs.rm(join(other, "index.db"), { recursive: true });
    await fs.rm(join(other, "index"), { recursive: true });
    await fs.mkdir(join(other, "index"));
    const otherRepo = await openLocalRepository(other);
    const fileDir = join(f.work, "file");
    await fs.mkdir(fileDir);
    await fs.writeFile(join(fileDir, "tree.json"), plain);
    const s2 = await backup(otherRepo, [fileDir], { time: new Date("2024-01-02T00:00:00Z") });
    await otherRepo.close();
    const original = new Set(await listFiles(f.repoPath));
    for (const file of await listFiles(other)) {
      if (original.has(file) || file.startsWith("index.db") || file.startsWith("locks")) continue;
      await fs.mkdir(join(f.repoPath, file, ".."), { recursive: true });
      await fs.copyFile(join(other, file), join(f.repoPath, file));
    }
    await f.reopen();
    expect(f.repo.index.lookup(tree)?.type).toBe("tree");
    let copies = 0;
    for await (const [id, loc] of f.repo.index.duplicates()) if (id === tree && loc.type === "data") copies++;
    expect(copies).toBe(1);

    await prune(f.repo, EXACT);
    // What is left on disk, from scratch: does any tree-typed copy remain?
    await f.close();
    await fs.rm(join(f.repoPath, "index.db"), { recursive: true });
    await f.reopen();
    const types = [f.repo.index.lookup(tree)?.type];
    for await (const [id, loc] of f.repo.index.duplicates()) if (id === tree) types.push(loc.type);
    expect(types, "types of the copies left of the tree").toContain("tree");
    await expect(f.repo.loadTree(tree)).resolves.toBeDefined();
    // Both snapshots restore: the file's bytes are served by whichever copy is left.
    await restores(f, s1.tree, dir, await manifest(dir));
    await restores(f, s2.tree, fileDir, await manifest(fileDir));
  });

  it("repair index after a prune killed before its deletions, then prune: check passes, restores, no old pack kept", async () => {
    const { f, src, s2, m2, newPacks } = await killedPruneRepository();
    await repairIndex(f.repo);
    const result = await prune(f.repo, EXACT);
    expect(result.packsWritten).toBe(0);
    const errors = (await checkRepository(heldRepository(f.repo), { readData: { kind: "all" } })).findings.filter((x) => x.level === "error");
    expect(errors).toEqual([]);
    await restores(f, s2.tree, src, m2);
    const data = (await listFiles(join(f.repoPath, "data"))).map((file) => file.split("/").pop()!);
    for (const id of newPacks) expect(data).toContain(id);
    const again = await prune(f.repo, EXACT);
    expect(again.packsRemoved).toBe(0);
  });
});

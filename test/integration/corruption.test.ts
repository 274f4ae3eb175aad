// Damage a real repository in each way storage can fail, then assert exactly what `check`
// reports (down to snapshots and file paths), what `restore` does, and that the repair
// commands bring it back to a repository that checks clean.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { compressDocument } from "../../src/store/document-codec.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import { serializeIndexFile, type IndexedPack } from "../../src/store/index/index-file.js";
import { readIndexFile } from "../../src/store/index/index-sync.js";
import { writeIndexFile } from "../../src/store/index/index-writer.js";
import { runCairn, tempDir, type CliResult } from "../support/cli.js";
import {
  damagedPaths,
  findingsOf,
  flipByte,
  inspectRepository,
  packPath,
  readTree,
  seededBytes,
  type JsonFinding,
  type RepositoryView,
} from "./damage-fixtures.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let pristine: string;
let view: RepositoryView;
let caseNumber = 0;

const MiB = 1024 * 1024;

/** The source as it was at the second (latest) snapshot, by path inside the snapshot. */
let latestFiles: Map<string, Buffer>;

beforeAll(async () => {
  work = await tempDir("cairn-corruption-");
  src = join(work.path, "src");
  pristine = join(work.path, "pristine");
  await fs.mkdir(join(src, "docs"), { recursive: true });
  await fs.mkdir(join(src, "sub", "deep"), { recursive: true });
  await fs.writeFile(join(src, "docs", "a.txt"), "alpha\n".repeat(2000));
  await fs.writeFile(join(src, "docs", "b.txt"), "bravo\n".repeat(2000));
  await fs.writeFile(join(src, "sub", "deep", "c.txt"), "charlie\n");
  await fs.writeFile(join(src, "big1.bin"), seededBytes(3 * MiB, "big1"));
  await fs.writeFile(join(src, "big2.bin"), seededBytes(3 * MiB, "big2"));
  await fs.writeFile(join(src, "shared.bin"), seededBytes(MiB + 12345, "shared"));
  expect((await runCairn(["-r", pristine, "init", "--pack-size", "1M"])).code).toBe(0);
  expect((await runCairn(["-r", pristine, "backup", src])).code).toBe(0);
  await fs.writeFile(join(src, "docs", "b.txt"), "bravo, changed\n".repeat(1000));
  await fs.writeFile(join(src, "new.txt"), "new in the second snapshot\n");
  expect((await runCairn(["-r", pristine, "backup", src])).code).toBe(0);
  view = await inspectRepository(pristine);
  expect(view.snapshots).toHaveLength(2);
  latestFiles = new Map([...(await readTree(src))].map(([rel, bytes]) => [`${src}/${rel}`, bytes]));
}, 120_000);

afterAll(async () => {
  await work?.cleanup();
});

/** A fresh copy of the pristine repository for one case. */
async function copyRepository(): Promise<string> {
  const repo = join(work.path, `case-${++caseNumber}`);
  await fs.cp(pristine, repo, { recursive: true });
  return repo;
}

const cairn = (repo: string, ...args: string[]) => runCairn(["-r", repo, ...args]);

function fileOf(path: string, snapshot = latest().id) {
  const file = view.files.find((f) => f.path === `${src}/${path}` && f.snapshot === snapshot);
  if (!file) throw new Error(`no ${path} in snapshot ${snapshot}`);
  return file;
}

function latest() {
  return view.snapshots[view.snapshots.length - 1]!;
}

/** The files (in any snapshot) whose content uses one of `blobs`: what check must name. */
function filesUsing(blobs: Set<Id>): { snapshot: Id; path: string }[] {
  return view.files.filter((f) => f.content.some((id) => blobs.has(id))).map((f) => ({ snapshot: f.snapshot, path: f.path }));
}

function blobsInPack(pack: Id): Set<Id> {
  return new Set([...view.locations].filter(([, loc]) => loc.packId === pack).map(([id]) => id));
}

const sortRefs = <T extends { snapshot?: string; path?: string }>(refs: T[]) =>
  [...refs].sort((a, b) => `${a.snapshot}${a.path}`.localeCompare(`${b.snapshot}${b.path}`));

function damagedFiles(findings: JsonFinding[]): { snapshot: string; path: string }[] {
  return sortRefs(findings.filter((f) => f.kind === "file-damaged").map((f) => ({ snapshot: f.snapshot!, path: f.path! })));
}

function kinds(findings: JsonFinding[]): string[] {
  return [...new Set(findings.map((f) => `${f.level}:${f.kind}`))].sort();
}

/**
 * Restores the latest snapshot; every file not named damaged (nor `changed`: cut or emptied by
 * a repair) must be byte-identical to the source.
 */
async function restoreLatest(repo: string, changed: string[] = []): Promise<{ code: number; damaged: string[]; restored: Map<string, Buffer>; stderr: string }> {
  const target = join(work.path, `restore-${caseNumber}-${Math.random().toString(36).slice(2)}`);
  const result = await cairn(repo, "restore", "latest", "--target", target);
  const restored = new Map([...(await readTree(target))].map(([rel, bytes]) => [`/${rel}`, bytes]));
  const damaged = damagedPaths(result.stderr);
  for (const [path, bytes] of latestFiles) {
    if ([...damaged, ...changed].some((d) => path === d || path.startsWith(d + "/"))) continue;
    expect(restored.get(path)?.equals(bytes), `${path} restored intact`).toBe(true);
  }
  return { code: result.code, damaged, restored, stderr: result.stderr };
}

/** `repair index` succeeds, then check --read-data is clean and the latest snapshot restores. */
async function expectRepairIndexMends(repo: string): Promise<{ repair: CliResult; restore: Awaited<ReturnType<typeof restoreLatest>> }> {
  const repair = await cairn(repo, "repair", "index");
  expect(repair.code, repair.stderr).toBe(0);
  await expectCleanCheck(repo, "--read-data");
  const restore = await restoreLatest(repo);
  expect(restore.code).toBe(0);
  return { repair, restore };
}

async function expectCleanCheck(repo: string, ...args: string[]): Promise<void> {
  const result = await cairn(repo, "--json", "check", ...args);
  expect(findingsOf(result.stdout).filter((f) => f.level === "error")).toEqual([]);
  expect(result.code).toBe(0);
}

describe("a healthy repository", () => {
  it("checks clean, with and without reading data", async () => {
    const result = await cairn(pristine, "check", "--read-data");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("checked 2 snapshots");
    expect(result.stdout).toContain("no errors found");
  });
});

describe("a flipped byte in a data pack", () => {
  it("passes the structural check, is found by --read-data down to the files, and restore names the file", async () => {
    const repo = await copyRepository();
    const big1 = fileOf("big1.bin");
    expect(big1.content.length).toBeGreaterThan(1);
    const blob = big1.content[1]!;
    const loc = view.locations.get(blob)!;
    await flipByte(packPath(repo, loc.packId), loc.offset + Math.floor(loc.storedLength / 2));

    const structural = await cairn(repo, "--json", "check");
    expect(structural.code).toBe(0);
    expect(findingsOf(structural.stdout)).toEqual([]);

    const deep = await cairn(repo, "--json", "check", "--read-data");
    expect(deep.code).toBe(1);
    const findings = findingsOf(deep.stdout);
    expect(kinds(findings)).toEqual(["error:blob-damaged", "error:file-damaged", "error:pack-hash"]);
    expect(findings.filter((f) => f.kind === "pack-hash").map((f) => f.pack)).toEqual([loc.packId]);
    expect(findings.filter((f) => f.kind === "blob-damaged").map((f) => [f.pack, f.blob])).toEqual([[loc.packId, blob]]);
    // Both snapshots hold the same big1.bin: the damage is reported under each.
    expect(damagedFiles(findings)).toEqual(sortRefs(filesUsing(new Set([blob]))));
    expect(damagedFiles(findings).map((f) => f.path)).toEqual([big1.path, big1.path]);
    expect(findings.find((f) => f.kind === "file-damaged")!.blob).toBe(blob);

    const text = await cairn(repo, "check", "--read-data");
    expect(text.stdout).toContain(`error: ${big1.path} in snapshot ${latest().id.slice(0, 8)}: content blob ${blob.slice(0, 8)} fails verification`);

    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(1);
    expect(restore.damaged).toEqual([big1.path]);

    const sizeOfLatest = async () => {
      const listed = JSON.parse((await cairn(repo, "--json", "snapshots", "--latest", "1")).stdout) as { summary: { total_bytes_processed: number; total_files_processed: number } }[];
      return listed[0]!.summary;
    };
    const before = await sizeOfLatest();
    // Repair: drop the damaged blob from the index (salvaging the rest of its pack), then cut the file.
    expect((await cairn(repo, "repair", "index", "--read-data")).code).toBe(0);
    const repaired = await cairn(repo, "repair", "snapshots", "--forget");
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toContain(`${big1.path}: cut to ${view.locations.get(big1.content[0]!)!.plainLength} of ${big1.size} bytes`);
    // The size `snapshots` shows is the repaired snapshot's, not the original's.
    const firstChunkLength = view.locations.get(big1.content[0]!)!.plainLength;
    expect(await sizeOfLatest()).toMatchObject({ total_bytes_processed: before.total_bytes_processed - (big1.size - firstChunkLength), total_files_processed: before.total_files_processed });
    await expectCleanCheck(repo, "--read-data");
    const after = await restoreLatest(repo, [big1.path]);
    expect(after.code).toBe(0);
    const firstChunk = view.locations.get(big1.content[0]!)!.plainLength;
    expect(after.restored.get(big1.path)!.equals(latestFiles.get(big1.path)!.subarray(0, firstChunk))).toBe(true);
  });
});

describe("a flipped byte in a tree pack", () => {
  it("is found by the structural check at the directory in every snapshot, and restore restores everything else", async () => {
    const repo = await copyRepository();
    const sub = view.dirs.find((d) => d.path === `${src}/sub` && d.snapshot === latest().id)!;
    const loc = view.locations.get(sub.tree)!;
    expect(loc.type).toBe("tree");
    await flipByte(packPath(repo, loc.packId), loc.offset + Math.floor(loc.storedLength / 2));

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    const findings = findingsOf(check.stdout);
    expect(kinds(findings)).toEqual(["error:tree-damaged"]);
    const expected = sortRefs(view.dirs.filter((d) => d.tree === sub.tree).map((d) => ({ snapshot: d.snapshot, path: d.path })));
    expect(expected).toHaveLength(2);
    expect(sortRefs(findings.map((f) => ({ snapshot: f.snapshot!, path: f.path! })))).toEqual(expected);
    expect(findings.every((f) => f.blob === sub.tree)).toBe(true);

    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(1);
    expect(restore.damaged).toEqual([`${src}/sub`]);
    expect(restore.stderr).toContain("directory listing unreadable");
    expect(restore.restored.has(`${src}/sub/deep/c.txt`)).toBe(false);

    expect((await cairn(repo, "repair", "index", "--read-data")).code).toBe(0);
    const repaired = await cairn(repo, "repair", "snapshots", "--forget");
    expect(repaired.stdout).toContain(`${src}/sub: emptied`);
    await expectCleanCheck(repo, "--read-data");
    const after = await restoreLatest(repo, [`${src}/sub`]);
    expect(after.code).toBe(0);
    expect(after.restored.has(`${src}/sub/deep/c.txt`)).toBe(false);
  });
});

describe("a truncated pack", () => {
  it("is reported with the files that lost data; restore keeps every blob before the cut; repair index salvages them", async () => {
    const repo = await copyRepository();
    const big2 = fileOf("big2.bin");
    const pack = view.locations.get(big2.content[0]!)!.packId;
    const file = packPath(repo, pack);
    const size = (await fs.stat(file)).size;
    const cut = Math.floor(size / 2);
    await fs.truncate(file, cut);
    const lost = new Set([...blobsInPack(pack)].filter((id) => {
      const loc = view.locations.get(id)!;
      return loc.offset + loc.storedLength > cut;
    }));
    expect(lost.size).toBeGreaterThan(0);

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    const findings = findingsOf(check.stdout);
    expect(kinds(findings)).toEqual(["error:file-damaged", "error:pack-size"]);
    expect(findings.find((f) => f.kind === "pack-size")!.pack).toBe(pack);
    expect(damagedFiles(findings)).toEqual(sortRefs(filesUsing(lost)));

    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(1);
    expect(restore.damaged).toEqual([...new Set(filesUsing(lost).filter((f) => f.snapshot === latest().id).map((f) => f.path))].sort());

    const repairIndex = await cairn(repo, "repair", "index");
    expect(repairIndex.code).toBe(0);
    expect(repairIndex.stdout).toContain(`pack ${pack.slice(0, 8)}`);
    expect(repairIndex.stdout).toContain(`${blobsInPack(pack).size - lost.size} blobs recovered, ${lost.size} lost`);
    await expect(fs.stat(file)).rejects.toThrow();
    expect((await cairn(repo, "repair", "snapshots", "--forget")).code).toBe(0);
    await expectCleanCheck(repo, "--read-data");
    expect((await restoreLatest(repo, restore.damaged)).code).toBe(0);
  });
});

describe("a flipped byte in a pack's trailer", () => {
  // Offsets from the end of the pack into its last trailer entry (type, compression, stored
  // length, plaintext length, id), before the 4-byte trailer length and the magic.
  const FOOTER = 4 + 8;
  it.each([
    ["a blob id", FOOTER + 1],
    ["a compression byte", FOOTER + 32 + 4 + 4 + 1],
    ["a stored length", FOOTER + 32 + 4 + 4],
  ])("in %s: check reports it, and repair index without --read-data loses nothing", async (_, fromEnd) => {
    const repo = await copyRepository();
    const pack = view.locations.get(fileOf("big1.bin").content[0]!)!.packId;
    const file = packPath(repo, pack);
    await flipByte(file, (await fs.stat(file)).size - fromEnd);

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    expect(kinds(findingsOf(check.stdout))).toContain("error:pack-trailer");

    const { repair } = await expectRepairIndexMends(repo);
    expect(repair.stdout).toContain(`${blobsInPack(pack).size} blobs recovered, 0 lost`);
  });
});

describe("a second index file listing a pack with a wrong entry", () => {
  it.each(["before", "after"])("is reported when it is read %s the right one, and repair index leaves a clean repository", async (order) => {
    const repo = await copyRepository();
    const backend = new LocalBackend(repo);
    const pack = view.locations.get(fileOf("big1.bin").content[0]!)!.packId;
    let right: { file: Id; listed: IndexedPack } | undefined;
    for (const file of (await fs.readdir(join(repo, "index"))).sort()) {
      const listed = (await readIndexFile(backend, file)).packs.find((p) => p.id === pack);
      if (listed && !right) right = { file, listed };
    }
    // Same size and blob count, laid out back to back: only the trailer can tell. Index files
    // are read in name order, and the name is the hash: pick the change that sorts as wanted.
    const wrong = (delta: number): IndexedPack => ({ ...right!.listed, entries: right!.listed.entries.map((e, i) => (i === 1 ? { ...e, plainLength: e.plainLength + delta } : e)) });
    const nameOf = (p: IndexedPack) => hashBytes(compressDocument(serializeIndexFile({ packs: [p] })));
    let delta = 1;
    while ((nameOf(wrong(delta)) < right!.file) !== (order === "before")) delta++;
    expect(await writeIndexFile(backend, undefined, [wrong(delta)])).toBe(nameOf(wrong(delta)));

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    expect(findingsOf(check.stdout).some((f) => f.level === "error" && f.pack === pack)).toBe(true);
    await expectRepairIndexMends(repo);
  });
});

describe("a deleted pack", () => {
  it("is reported as missing with every file that used it, in every snapshot", async () => {
    const repo = await copyRepository();
    const pack = view.locations.get(fileOf("shared.bin").content[0]!)!.packId;
    await fs.rm(packPath(repo, pack));
    const lost = blobsInPack(pack);

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    const findings = findingsOf(check.stdout);
    expect(kinds(findings)).toEqual(["error:file-damaged", "error:pack-missing"]);
    expect(findings.filter((f) => f.kind === "pack-missing").map((f) => f.pack)).toEqual([pack]);
    expect(damagedFiles(findings)).toEqual(sortRefs(filesUsing(lost)));
    expect(damagedFiles(findings).map((f) => f.path)).toContain(`${src}/shared.bin`);

    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(1);
    expect(restore.damaged).toEqual([...new Set(filesUsing(lost).filter((f) => f.snapshot === latest().id).map((f) => f.path))].sort());

    const repairIndex = await cairn(repo, "repair", "index");
    expect(repairIndex.stdout).toContain(`1 indexed packs no longer exist and leave the index: ${pack.slice(0, 8)}`);
    const repaired = await cairn(repo, "--json", "repair", "snapshots");
    expect(repaired.code).toBe(0);
    // Originals are kept without --forget: check still names them, and only them.
    const kept = findingsOf((await cairn(repo, "--json", "check")).stdout);
    expect(new Set(kept.map((f) => f.snapshot))).toEqual(new Set(view.snapshots.map((s) => s.id)));
    const after = await inspectRepository(repo);
    expect(after.snapshots).toHaveLength(4);
    const copy = after.snapshots.find((s) => s.original === latest().id)!;
    const cutFile = after.files.find((f) => f.snapshot === copy.id && f.path === `${src}/shared.bin`)!;
    expect(cutFile.content.every((id) => !lost.has(id))).toBe(true);
    const restored = await restoreLatest(repo, restore.damaged);
    expect(restored.code).toBe(0);
    expect(restored.restored.get(`${src}/shared.bin`)!.length).toBe(cutFile.size);
  });
});

describe("a deleted index file", () => {
  it("leaves unindexed packs (warnings) and unreachable files (errors); repair index restores everything", async () => {
    const repo = await copyRepository();
    const indexFiles = await fs.readdir(join(repo, "index"));
    expect(indexFiles.length).toBeGreaterThan(1);
    // The index file that lists big1.bin's first pack.
    const backend = new LocalBackend(repo);
    const wantedPack = view.locations.get(fileOf("big1.bin").content[0]!)!.packId;
    let victim: string | undefined;
    let packs: Id[] = [];
    for (const file of indexFiles) {
      const content = await readIndexFile(backend, file);
      if (content.packs.some((p) => p.id === wantedPack)) {
        victim = file;
        packs = content.packs.map((p) => p.id);
      }
    }
    await fs.rm(join(repo, "index", victim!));
    const unindexed = new Set<Id>();
    for (const pack of packs) for (const id of blobsInPack(pack)) unindexed.add(id);

    const check = await cairn(repo, "--json", "check");
    expect(check.code).toBe(1);
    const findings = findingsOf(check.stdout);
    expect(findings.filter((f) => f.kind === "pack-unindexed").map((f) => f.pack).sort()).toEqual([...packs].sort());
    expect(findings.filter((f) => f.kind === "pack-unindexed").every((f) => f.level === "warning")).toBe(true);
    // A directory whose listing is lost hides everything below it: only the topmost are reported.
    const treesLost = [
      ...view.snapshots.filter((s) => unindexed.has(s.tree)).map((s) => ({ snapshot: s.id, path: "" })),
      ...view.dirs.filter((d) => unindexed.has(d.tree)),
    ];
    const hidden = (snapshot: Id, path: string) => treesLost.some((d) => d.snapshot === snapshot && path.startsWith(d.path + "/"));
    const topmost = treesLost.filter((d) => !hidden(d.snapshot, d.path)).map((d) => ({ snapshot: d.snapshot, path: d.path || "/" }));
    expect(sortRefs(findings.filter((f) => f.kind === "tree-damaged").map((f) => ({ snapshot: f.snapshot!, path: f.path! })))).toEqual(sortRefs(topmost));
    const reachable = view.files.filter((f) => !hidden(f.snapshot, f.path));
    expect(damagedFiles(findings)).toEqual(sortRefs(reachable.filter((f) => f.content.some((id) => unindexed.has(id))).map((f) => ({ snapshot: f.snapshot, path: f.path }))));
    expect(findings.every((f) => f.message.includes("is not in the index") || f.kind === "pack-unindexed")).toBe(true);

    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(1);
    expect(restore.damaged.length).toBeGreaterThan(0);

    // Nothing was lost: the packs are all there, so rebuilding the index from them repairs it all.
    const { restore: after } = await expectRepairIndexMends(repo);
    expect(after.damaged).toEqual([]);
  });
});

describe("a deleted index database", () => {
  it("is rebuilt on open: check passes and says so, restore is complete", async () => {
    const repo = await copyRepository();
    await fs.rm(join(repo, "index.db"), { recursive: true });
    const check = await cairn(repo, "check");
    expect(check.code).toBe(0);
    expect(check.stderr).toContain("index database rebuilt from the index files");
    expect(check.stdout).toContain("no errors found");
    const restore = await restoreLatest(repo);
    expect(restore.code).toBe(0);
    expect(restore.damaged).toEqual([]);
  });
});

describe("a damaged index database", () => {
  it("gives one line naming it, and repair index rebuilds it from the index files", async () => {
    const repo = await copyRepository();
    // Every file of the database overwritten with garbage: LevelDB cannot make sense of any of them.
    const db = join(repo, "index.db");
    for (const name of await fs.readdir(db)) {
      if (name === "LOCK" || name.startsWith("holder")) continue;
      const file = join(db, name);
      const size = (await fs.stat(file)).size;
      await fs.writeFile(file, seededBytes(Math.max(size, 64), name));
    }
    const listing = await cairn(repo, "ls", "latest");
    expect(listing.code).toBe(1);
    expect(listing.stderr.trim().split("\n")).toHaveLength(1);
    expect(listing.stderr).toMatch(/^cairn: index database .*index\.db: cannot open: .*\(it is derived data: cairn repair index rebuilds it, or delete it and cairn rebuilds it\)$/m);

    const { restore } = await expectRepairIndexMends(repo);
    expect(restore.damaged).toEqual([]);
  });
});

describe("an index database that lost an entry", () => {
  it("makes restore say the cache is at fault, and repair index brings the file back", async () => {
    const repo = await copyRepository();
    const big1 = view.files.find((f) => f.snapshot === view.snapshots.at(-1)!.id && f.path.endsWith("/big1.bin"))!;
    const db = new ClassicLevel(join(repo, "index.db"));
    await db.del(`b/${big1.content[0]!}`);
    await db.close();
    const damaged = await restoreLatest(repo);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/the index database misses 1 blobs the index files list \(it is a cache, and damaged\): run cairn repair index, then restore again/);
    expect((await cairn(repo, "repair", "index")).code).toBe(0);
    const after = await restoreLatest(repo);
    expect(after.code).toBe(0);
    expect(after.damaged).toEqual([]);
  });
});

// A prune killed with SIGKILL at any moment loses nothing: after each kill, check --read-data
// passes and every kept snapshot restores byte-identical; at some of them the next prune is
// also run to the end, and leaves the repository as an uninterrupted prune does.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { manifest } from "../support/test-data.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let pristine: string;
let kept: { id: string; manifest: Record<string, string> }[];
let referenceBytes: number;
/** How many packs an uninterrupted prune removes. */
let packsRemoved: number;

async function cairn(args: string[]): Promise<string> {
  const r = await runCairn(args);
  expect(r.code, `cairn ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function writeFiles(indexes: Iterable<number>): Promise<void> {
  for (const i of indexes) await fs.writeFile(join(src, `f${i}`), randomBytes(100_000));
}

async function removeFiles(indexes: Iterable<number>): Promise<void> {
  for (const i of indexes) await fs.rm(join(src, `f${i}`));
}

const range = (from: number, to: number, keep: (i: number) => boolean = () => true) => Array.from({ length: to - from }, (_, k) => from + k).filter(keep);

/** Names under a folder of the repository (recursively), without temporary files. */
async function objects(repo: string, folder: string): Promise<Set<string>> {
  try {
    const entries = await fs.readdir(join(repo, folder), { recursive: true, withFileTypes: true });
    return new Set(entries.filter((e) => e.isFile() && !e.name.startsWith(".")).map((e) => e.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw err;
  }
}

async function repositoryBytes(repo: string): Promise<number> {
  let total = 0;
  for (const folder of ["data", "index", "snapshots"]) {
    for (const entry of await fs.readdir(join(repo, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) total += (await fs.stat(join(entry.parentPath, entry.name))).size;
    }
  }
  return total;
}

interface RepoState {
  packs: Set<string>;
  indexFiles: Set<string>;
  scratch: boolean;
}

async function stateOf(repo: string): Promise<RepoState> {
  const names = await fs.readdir(repo);
  return { packs: await objects(repo, "data"), indexFiles: await objects(repo, "index"), scratch: names.some((n) => n.startsWith(".prune-scratch-")) };
}

const count = (set: Set<string>, pred: (name: string) => boolean) => [...set].filter(pred).length;

/** A moment in prune's work, recognized from the repository's contents (before = at the start). */
type KillPoint = { name: string; reached: (now: RepoState, before: RepoState) => boolean; finish?: boolean };

const newPacks = (now: RepoState, before: RepoState) => count(now.packs, (p) => !before.packs.has(p));
const goneOf = (now: Set<string>, before: Set<string>) => count(before, (p) => !now.has(p));

const KILL_POINTS: KillPoint[] = [
  { name: "finding used blobs", reached: (now) => now.scratch },
  { name: "first new pack written", reached: (n, b) => newPacks(n, b) >= 1 },
  { name: "10 new packs written", reached: (n, b) => newPacks(n, b) >= 10, finish: true },
  { name: "first new index file", reached: (n, b) => count(n.indexFiles, (i) => !b.indexFiles.has(i)) >= 1 },
  { name: "first old index file deleted", reached: (n, b) => goneOf(n.indexFiles, b.indexFiles) >= 1 },
  { name: "10 old index files deleted", reached: (n, b) => goneOf(n.indexFiles, b.indexFiles) >= 10, finish: true },
  { name: "first old pack deleted", reached: (n, b) => goneOf(n.packs, b.packs) >= 1 },
  { name: "20 old packs deleted", reached: (n, b) => goneOf(n.packs, b.packs) >= 20 },
  { name: "100 old packs deleted", reached: (n, b) => goneOf(n.packs, b.packs) >= 100, finish: true },
  { name: "all but 3 old packs deleted", reached: (n, b) => goneOf(n.packs, b.packs) >= packsRemoved - 3 },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the kernel reports `pid` stopped (SIGSTOP is delivered asynchronously). */
async function stopped(pid: number): Promise<void> {
  for (;;) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    // Field 3, after the parenthesized command name: T = stopped, Z = exited.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "T" || state === "Z" || state === "") return;
    await sleep(1);
  }
}

/**
 * Runs `cairn prune` on `repo` and SIGKILLs it once `point` is reached; fails if prune ended
 * first. The child runs in slices of a few milliseconds and is stopped (SIGSTOP) while the
 * repository is inspected, so a point cannot slip by however slow the inspection or busy the
 * machine is.
 */
async function pruneKilledAt(repo: string, point: KillPoint): Promise<void> {
  const before = await stateOf(repo);
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "prune"], { stdio: "ignore" });
  const exited = once(child, "exit");
  for (;;) {
    await sleep(5);
    if (child.exitCode !== null || child.signalCode !== null) break;
    child.kill("SIGSTOP");
    await stopped(child.pid!);
    if (point.reached(await stateOf(repo), before)) break;
    child.kill("SIGCONT");
  }
  child.kill("SIGKILL");
  const [code, signal] = await exited;
  expect({ code, signal }, `prune ended before "${point.name}"`).toEqual({ code: null, signal: "SIGKILL" });
}

async function expectIntact(repo: string): Promise<void> {
  expect(await cairn(["-r", repo, "check", "--read-data"])).toContain("no errors found");
  for (const snapshot of kept) {
    const target = join(work.path, "restore");
    await cairn(["-r", repo, "restore", snapshot.id, "--target", target, "-q"]);
    expect(await manifest(join(target, src)), `snapshot ${snapshot.id}`).toEqual(snapshot.manifest);
    await fs.rm(target, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  work = await tempDir("cairn-prune-crash-");
  src = join(work.path, "src");
  pristine = join(work.path, "pristine");
  await fs.mkdir(src);
  await cairn(["-r", pristine, "init", "--pack-size", "1M", "--chunk-min", "4K", "--chunk-avg", "16K", "--chunk-max", "64K"]);
  // ~200 MB in ~200 packs of 1 MiB; the first snapshot's data is mostly its own.
  await writeFiles(range(0, 2000));
  await cairn(["-r", pristine, "backup", src, "-q"]);
  await removeFiles(range(0, 2000, (i) => i % 10 !== 0));
  await writeFiles(range(2000, 2100));
  await cairn(["-r", pristine, "backup", src, "-q"]);
  const manifests = [await manifest(src)];
  await removeFiles(range(0, 500, (i) => i % 10 === 0));
  await writeFiles(range(2100, 2130));
  await cairn(["-r", pristine, "backup", src, "-q"]);
  manifests.push(await manifest(src));
  // Oldest first: forget the first, keep the other two.
  const snapshots = JSON.parse(await cairn(["-r", pristine, "--json", "snapshots"])) as { id: string }[];
  expect(snapshots).toHaveLength(3);
  kept = manifests.map((m, i) => ({ id: snapshots[i + 1]!.id, manifest: m }));
  await cairn(["-r", pristine, "forget", snapshots[0]!.id]);
  expect((await objects(pristine, "data")).size).toBeGreaterThanOrEqual(200);

  // The uninterrupted result, for comparison.
  const reference = join(work.path, "reference");
  await fs.cp(pristine, reference, { recursive: true });
  const summary = JSON.parse((await cairn(["-r", reference, "--json", "prune"])).trim().split("\n").at(-1)!) as { packs_removed: number };
  packsRemoved = summary.packs_removed;
  expect(packsRemoved).toBeGreaterThan(150);
  referenceBytes = await repositoryBytes(reference);
  expect(referenceBytes).toBeLessThan((await repositoryBytes(pristine)) * 0.5);
  await fs.rm(reference, { recursive: true });
}, 300_000);

afterAll(async () => {
  await work?.cleanup();
});

describe("prune killed with SIGKILL", () => {
  it.each(KILL_POINTS.map((p) => [p.name, p] as const))("at '%s' loses nothing", async (_name, point) => {
    const repo = join(work.path, "repo");
    await fs.cp(pristine, repo, { recursive: true });
    try {
      await pruneKilledAt(repo, point);
      await expectIntact(repo);
      if (!point.finish) return;
      await cairn(["-r", repo, "prune"]);
      expect(Math.abs((await repositoryBytes(repo)) - referenceBytes)).toBeLessThan(referenceBytes * 0.01);
      expect(await cairn(["-r", repo, "check"])).toContain("no errors found");
      expect((await fs.readdir(repo)).filter((n) => n.startsWith(".prune-scratch-"))).toEqual([]);
    } finally {
      await fs.rm(repo, { recursive: true, force: true });
    }
  });
});

// `cairn backup` SIGKILLed at 20+ points spread over backing up ~100 MB: after every kill the
// repository checks clean, the next backup adopts the packs the killed one wrote (no blob is ever
// stored twice, the repository never grows by the data again), and every snapshot restores
// byte-identical.
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRepository, heldRepository } from "../../src/check/checker.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { hashBytes } from "../../src/store/id.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { listPacks } from "../../src/store/pack/pack-list.js";
import { readPackEntries } from "../../src/store/pack/pack-reader.js";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { listFiles, parseJsonLines, readTree, seededBytes } from "./damage-fixtures.js";

const MiB = 1024 * 1024;
const KiB = 1024;
/** With --pack-size 1M, packs close once past 1 MiB: about 1.3 MiB on average here. */
const PACK_BYTES = 1.3 * MiB;

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let repo: string;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

async function completePacks(): Promise<number> {
  try {
    const names = await fs.readdir(join(repo, "data"), { recursive: true });
    return names.filter((n) => /[0-9a-f]{64}$/.test(n)).length;
  } catch {
    return 0;
  }
}

interface Run {
  killed: boolean;
  code: number | null;
  stderr: string;
}

/** Runs a backup of `src`, SIGKILLing it once the repository holds `packs` packs (if it gets that far). */
async function backupUntil(packs: number): Promise<Run> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "backup", src], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, "close");
  let killed = false;
  while (child.exitCode === null) {
    if ((await completePacks()) >= packs) {
      killed = child.kill("SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const [code] = (await exited) as [number | null];
  return { killed, code, stderr };
}

/** Structure check after a crash (in-process, for speed): no errors; only warnings about packs not indexed yet. */
async function expectChecksClean(): Promise<number> {
  const opened = await openLocalRepository(repo);
  try {
    const report = await checkRepository(heldRepository(opened));
    expect(report.findings.filter((f) => f.level === "error")).toEqual([]);
    expect(report.findings.every((f) => f.kind === "pack-unindexed")).toBe(true);
    return report.findings.length;
  } finally {
    await opened.close();
  }
}

async function restoreAndCompare(snapshot: string, expected: Map<string, string>): Promise<void> {
  const target = join(work.path, `restore-${snapshot.slice(0, 8)}`);
  const result = await cairn("restore", snapshot, "--target", target);
  expect(result.code, result.stderr).toBe(0);
  expect(await digest(join(target, src))).toEqual(expected);
  await fs.rm(target, { recursive: true });
}

/**
 * Backs up `src` through `kills` runs SIGKILLed at evenly spread pack counts, then lets a last
 * run finish. After each kill the repository must check clean, and the next run must start by
 * indexing the packs the killed one left unindexed. Returns the snapshot and how many were killed.
 */
async function backupThroughKills(kills: number, expectedPacks: number): Promise<{ snapshot: string; killed: number }> {
  let killed = 0;
  let leftUnindexed = 0;
  for (let k = 0; k < kills; k++) {
    const before = await completePacks();
    // Spread what is left over the kills to come; at least one new pack per run, so each killed
    // run has first adopted what the previous one left.
    const target = before + Math.max(1, Math.floor((expectedPacks - before) / (kills - k + 1)));
    const run = await backupUntil(target);
    if (leftUnindexed > 0) expect(run.stderr).toContain(`indexed ${leftUnindexed} pack(s)`);
    if (!run.killed) {
      expect(run.code, run.stderr).toBe(0);
      leftUnindexed = 0;
      break;
    }
    killed++;
    expect(await completePacks()).toBeGreaterThan(before);
    leftUnindexed = await expectChecksClean();
  }
  const final = await cairn("--json", "backup", src);
  expect(final.code, final.stderr).toBe(0);
  if (leftUnindexed > 0) expect(final.stderr).toContain(`indexed ${leftUnindexed} pack(s)`);
  const summary = parseJsonLines(final.stdout).find((r) => r.message_type === "summary")!;
  return { snapshot: summary.snapshot_id as string, killed };
}

/** Every blob is stored exactly once across all packs, and no half-written object is left. */
async function expectNoDuplicates(): Promise<number> {
  const backend = new LocalBackend(repo);
  const seen = new Set<string>();
  let bytes = 0;
  for (const [id, size] of (await listPacks(backend)).packs) {
    bytes += size;
    for (const entry of await readPackEntries(backend, id, size)) {
      expect(seen.has(entry.id), `blob ${entry.id} stored twice`).toBe(false);
      seen.add(entry.id);
    }
  }
  expect((await listFiles(repo)).filter((f) => f.path.includes("/.tmp-"))).toEqual([]);
  return bytes;
}

beforeAll(async () => {
  work = await tempDir("cairn-crash-");
  src = join(work.path, "src");
  repo = join(work.path, "repo");
  await fs.mkdir(src);
  expect((await cairn("init", "--pack-size", "1M")).code).toBe(0);
});

afterAll(async () => {
  await work?.cleanup();
});

/** SHA-256 of every file under `dir`, by relative path: what a snapshot of it must restore to. */
async function digest(dir: string): Promise<Map<string, string>> {
  return new Map([...(await readTree(dir))].map(([path, bytes]) => [path, hashBytes(bytes)]));
}

const KILLS = 20;
const STAGE_KILLS = 7;
const MAX_STAGES = 8;

describe("a backup killed with SIGKILL", () => {
  it(`at ${KILLS}+ points: every time the repository checks, the next backup reuses the packs, and every snapshot restores`, async () => {
    // Stages of ~24 MB (large and small files, one small file changed), each backed up through
    // a series of kills and then to a snapshot, until enough kills have landed: runs after the
    // first have a parent, so each re-reads only its own stage.
    const snapshots: { id: string; files: Map<string, string> }[] = [];
    let killed = 0;
    let bytes = 0;
    for (let stage = 0; killed < KILLS; stage++) {
      expect(stage, "stages needed to land the kills").toBeLessThan(MAX_STAGES);
      const dir = join(src, `stage-${stage}`);
      await fs.mkdir(join(dir, "small"), { recursive: true });
      for (let i = 0; i < 4; i++) await fs.writeFile(join(dir, `large-${i}.bin`), seededBytes(4 * MiB + i * 1000, `${stage}-large-${i}`));
      for (let i = 0; i < 200; i++) await fs.writeFile(join(dir, "small", `f-${i}`), seededBytes(40 * KiB + i, `${stage}-small-${i}`));
      if (stage > 0) await fs.writeFile(join(src, "stage-0", "small", "f-0"), seededBytes(40 * KiB, `changed in ${stage}`));
      bytes += 4 * 4 * MiB + 200 * 40 * KiB + 40 * KiB;
      const result = await backupThroughKills(Math.min(STAGE_KILLS, KILLS - killed + 2), (await completePacks()) + Math.floor((24 * MiB) / PACK_BYTES));
      killed += result.killed;
      snapshots.push({ id: result.snapshot, files: await digest(src) });
    }

    const stored = await expectNoDuplicates();
    // Stored once: the packs hold the data (incompressible) plus per-blob overhead, never twice.
    expect(stored).toBeGreaterThan(bytes - snapshots.length * 40 * KiB);
    expect(stored).toBeLessThan(bytes + 4 * MiB);

    const check = await cairn("check", "--read-data");
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain("no errors found");
    for (const snapshot of snapshots) await restoreAndCompare(snapshot.id, snapshot.files);
  });
});

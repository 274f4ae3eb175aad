import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { advanceCorpus, generateCorpus, type CorpusInfo, type CorpusScale } from "./corpus/corpus.js";
import { diskUsage } from "./disk-usage.js";
import { measure, type CommandSpec, type Measurement } from "./measure.js";
import type { BackupTool } from "./tools/backup-tool.js";

export const STEPS = ["initial backup", "no-change incremental", "small-change incremental", "restore", "check --read-data"] as const;
export type StepName = (typeof STEPS)[number];

export interface StepResult extends Measurement {
  tool: string;
  step: StepName;
  /** Repository size after the step (caches such as cairn's index.db excluded). */
  repoBytes: number;
  /** With several runs: every run's wall, CPU and system time; the other fields are from the fastest run. */
  wallSecondsRuns?: number[];
  cpuSecondsRuns?: number[];
  systemSecondsRuns?: number[];
  stealSecondsRuns?: number[];
}

/** A step whose command failed: recorded so that one tool's missing feature does not hide every other number. */
export interface StepFailure {
  tool: string;
  step: StepName;
  error: string;
}

export type StepOutcome = StepResult | StepFailure;

export function isFailure(outcome: StepOutcome): outcome is StepFailure {
  return "error" in outcome;
}

export interface SuiteResult {
  corpus: CorpusInfo;
  corpusDay2: CorpusInfo;
  results: StepOutcome[];
}

/** Index databases and caches are not part of a repository's size. */
export const CACHE_DIRS = ["index.db"];

/**
 * Several runs of the suite folded into one: per tool and step the fastest run, which is the
 * least disturbed by whatever else the machine was doing. A step that failed in any run failed.
 */
export function bestOfRuns(runs: SuiteResult[]): SuiteResult {
  const results = runs[0].results.map((first): StepOutcome => {
    const outcomes = runs.map((run) => run.results.find((r) => r.tool === first.tool && r.step === first.step) ?? { tool: first.tool, step: first.step, error: "missing from a run" });
    const failure = outcomes.find(isFailure);
    if (failure) return failure;
    const measured = outcomes.filter((o): o is StepResult => !isFailure(o));
    const best = measured.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
    const each = (field: "wallSeconds" | "cpuSeconds" | "systemSeconds" | "stealSeconds") => measured.map((m) => m[field]);
    return { ...best, wallSecondsRuns: each("wallSeconds"), cpuSecondsRuns: each("cpuSeconds"), systemSecondsRuns: each("systemSeconds"), stealSecondsRuns: each("stealSeconds") };
  });
  return { corpus: runs[0].corpus, corpusDay2: runs[0].corpusDay2, results };
}

/** Where `retire` puts what a run is done with; the caller removes it once the benchmark ends. */
export const RETIRED_DIR = "retired";
let retired = 0;

/**
 * Moves `path` aside instead of deleting it. Deleting tens of thousands of files makes ext4
 * without a journal (this machine's root) skip the freed inodes for one to six minutes when it
 * allocates new ones: every restore after such a deletion ran three to five times slower, for
 * every tool alike, measuring the file system's recent history instead of the tool.
 */
async function retire(path: string, root: string): Promise<void> {
  const dir = join(root, RETIRED_DIR);
  await mkdir(dir, { recursive: true });
  try {
    await rename(path, join(dir, `${process.pid}-${retired++}`));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * Runs every tool over the same corpus in the same run: day 1 (initial and no-change backups),
 * then the corpus advances one day for all, then day 2 (small-change backup, restore, full check).
 * Nothing is deleted meanwhile (see `retire`).
 */
export async function runSuite(
  tools: BackupTool[],
  workDir: string,
  scale: CorpusScale,
  seed: number,
  log: (line: string) => void,
  restoreRoot = workDir,
): Promise<SuiteResult> {
  const corpusDir = join(workDir, "corpus");
  await retire(corpusDir, workDir);
  log(`generating ${scale} corpus in ${corpusDir}`);
  const corpus = await generateCorpus(corpusDir, { scale, seed });
  log(`corpus: ${corpus.total.files} files, ${(corpus.total.bytes / 1e6).toFixed(1)} MB`);
  const results: StepOutcome[] = [];
  const repoOf = (tool: BackupTool) => join(workDir, `repo-${tool.name}`);

  const step = async (tool: BackupTool, name: StepName, spec: CommandSpec) => {
    let m: Measurement;
    try {
      m = await measure(spec);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      results.push({ tool: tool.name, step: name, error });
      log(`${tool.name.padEnd(8)} ${name.padEnd(26)} FAILED: ${error.split("\n").find((l) => l.trim() !== "" && !l.includes(" failed (exit ")) ?? error}`);
      return;
    }
    const repoBytes = await diskUsage(repoOf(tool), CACHE_DIRS);
    results.push({ tool: tool.name, step: name, repoBytes, ...m });
    log(`${tool.name.padEnd(8)} ${name.padEnd(26)} ${m.wallSeconds.toFixed(2)}s wall, ${m.cpuSeconds.toFixed(2)}s cpu (${m.systemSeconds.toFixed(2)}s system, ${m.stealSeconds.toFixed(2)}s stolen), ${m.peakRssMiB.toFixed(0)} MiB, repo ${(repoBytes / 1e6).toFixed(1)} MB`);
  };

  for (const tool of tools) {
    const repo = repoOf(tool);
    await retire(repo, workDir);
    await measure(tool.init(repo));
    await step(tool, "initial backup", tool.backup(repo, corpusDir));
    await step(tool, "no-change incremental", tool.backup(repo, corpusDir));
  }
  const change = await advanceCorpus(corpusDir, { scale, seed, day: 2 });
  const targets: string[] = [];
  for (const tool of tools) {
    const repo = repoOf(tool);
    await step(tool, "small-change incremental", tool.backup(repo, corpusDir));
    const target = join(restoreRoot, `restore-${tool.name}`);
    await mkdir(target, { recursive: true });
    targets.push(target);
    await step(tool, "restore", tool.restoreLatest(repo, target));
    await step(tool, "check --read-data", tool.checkFullRead(repo));
  }
  // Restores on a file system of their own (--restore-dir, a tmpfs say) are deleted at once: they
  // would fill it run after run, and deleting there slows nothing the benchmark measures.
  for (const target of targets) await (restoreRoot === workDir ? retire(target, workDir) : rm(target, { recursive: true, force: true }));
  return { corpus, corpusDay2: change.after, results };
}

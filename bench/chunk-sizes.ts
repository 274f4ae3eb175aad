import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LocalBackend } from "../src/store/backend/local-backend.js";
import { listIndexFiles, readIndexFile } from "../src/store/index/index-sync.js";
import { advanceCorpus, generateCorpus, type CorpusScale } from "./corpus/corpus.js";
import { diskUsage } from "./disk-usage.js";
import { measure, type Measurement } from "./measure.js";
import { stamp } from "./report.js";
import { CACHE_DIRS } from "./suite.js";
import { CairnTool } from "./tools/cairn-tool.js";

const KiB = 1024;

/** One chunker parameter set, FastCDC's usual shape around an average: min = avg/4, max = avg*4. */
export interface ChunkSizeParams {
  min: number;
  avg: number;
  max: number;
}

export interface ChunkSizeDay {
  day: number;
  backup: Measurement;
  /** Repository size after the day's backup, index.db excluded. */
  repoBytes: number;
  /** What the day's backup added to the repository. */
  addedBytes: number;
  /** Data and tree blobs the repository holds: what every index costs. */
  blobs: number;
}

export interface ChunkSizeResult {
  params: ChunkSizeParams;
  days: ChunkSizeDay[];
  /** Restoring the last day's snapshot. */
  restore: Measurement;
}

export function chunkSizeParams(avg: number): ChunkSizeParams {
  return { min: avg / 4, avg, max: avg * 4 };
}

function label(bytes: number): string {
  return bytes >= 1024 * KiB ? `${bytes / (1024 * KiB)}M` : `${bytes / KiB}K`;
}

async function blobCount(repo: string): Promise<number> {
  const backend = new LocalBackend(repo);
  let n = 0;
  for (const id of await listIndexFiles(backend)) {
    for (const pack of (await readIndexFile(backend, id)).packs) n += pack.entries.length;
  }
  return n;
}

/**
 * Backs up the same corpus on `days` consecutive days into one repository per chunker parameter
 * set: deduplication (repository growth per day) against speed (backup time) and index size.
 */
export async function runChunkSizes(
  workDir: string,
  scale: CorpusScale,
  seed: number,
  averages: number[],
  days: number,
  log: (line: string) => void,
): Promise<{ corpusBytes: number; corpusFiles: number; results: ChunkSizeResult[] }> {
  const corpusDir = join(workDir, "corpus");
  await rm(corpusDir, { recursive: true, force: true });
  log(`generating ${scale} corpus in ${corpusDir}`);
  const corpus = await generateCorpus(corpusDir, { scale, seed });
  const sets = averages.map((avg) => {
    const params = chunkSizeParams(avg);
    const tool = new CairnTool(`cairn-${label(avg)}`, ["--chunk-min", String(params.min), "--chunk-avg", String(params.avg), "--chunk-max", String(params.max)]);
    return { params, tool, repo: join(workDir, `repo-chunks-${label(avg)}`), days: [] as ChunkSizeDay[] };
  });
  for (const set of sets) {
    await rm(set.repo, { recursive: true, force: true });
    await measure(set.tool.init(set.repo));
  }
  for (let day = 1; day <= days; day++) {
    if (day > 1) await advanceCorpus(corpusDir, { scale, seed, day });
    for (const set of sets) {
      const before = day === 1 ? 0 : set.days[set.days.length - 1].repoBytes;
      const backup = await measure(set.tool.backup(set.repo, corpusDir));
      const repoBytes = await diskUsage(set.repo, CACHE_DIRS);
      const result = { day, backup, repoBytes, addedBytes: repoBytes - before, blobs: await blobCount(set.repo) };
      set.days.push(result);
      log(`avg ${label(set.params.avg).padStart(4)} day ${day}: ${backup.wallSeconds.toFixed(2)}s wall, ${backup.cpuSeconds.toFixed(2)}s cpu, ${backup.peakRssMiB.toFixed(0)} MiB, +${(result.addedBytes / 1e6).toFixed(1)} MB, repo ${(repoBytes / 1e6).toFixed(1)} MB, ${result.blobs} blobs`);
    }
  }
  const results: ChunkSizeResult[] = [];
  for (const set of sets) {
    const target = join(workDir, "restore-chunks");
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    const restore = await measure(set.tool.restoreLatest(set.repo, target));
    await rm(target, { recursive: true, force: true });
    await rm(set.repo, { recursive: true, force: true });
    log(`avg ${label(set.params.avg).padStart(4)} restore: ${restore.wallSeconds.toFixed(2)}s wall, ${restore.peakRssMiB.toFixed(0)} MiB`);
    results.push({ params: set.params, days: set.days, restore });
  }
  return { corpusBytes: corpus.total.bytes, corpusFiles: corpus.total.files, results };
}

function cost(m: Measurement): string {
  return `${m.wallSeconds.toFixed(2)} / ${m.cpuSeconds.toFixed(2)}`;
}

/** One row per parameter set: growth per day against backup and restore cost (wall / cpu seconds). */
export function chunkSizeTable(results: ChunkSizeResult[]): string {
  const days = results[0]?.days.length ?? 0;
  const later = Array.from({ length: days - 1 }, (_, i) => i + 2);
  const header = [
    "min / avg / max",
    "day 1 repo MB",
    ...later.map((d) => `day ${d} added MB`),
    `blobs (day ${days})`,
    "day 1 backup s",
    "day 1 peak RSS MiB",
    ...later.map((d) => `day ${d} backup s`),
    "restore s",
    "restore peak RSS MiB",
  ];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of results) {
    const [first, ...rest] = r.days;
    const row = [
      `${label(r.params.min)} / ${label(r.params.avg)} / ${label(r.params.max)}`,
      (first.repoBytes / 1e6).toFixed(1),
      ...rest.map((d) => (d.addedBytes / 1e6).toFixed(1)),
      String(r.days[r.days.length - 1].blobs),
      cost(first.backup),
      first.backup.peakRssMiB.toFixed(0),
      ...rest.map((d) => cost(d.backup)),
      cost(r.restore),
      r.restore.peakRssMiB.toFixed(0),
    ];
    lines.push(`| ${row.join(" | ")} |`);
  }
  return lines.join("\n");
}

export async function writeChunkSizeReport(
  outDir: string,
  report: { date: string; scale: string; machine: { cpus: number; node: string }; corpusBytes: number; corpusFiles: number; results: ChunkSizeResult[] },
): Promise<{ json: string; markdown: string }> {
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, `chunk-sizes-${report.scale}-${stamp(report.date)}`);
  const markdown = [
    `# cairn chunk sizes, ${report.scale} corpus, ${report.date}`,
    "",
    `Corpus: ${report.corpusFiles} files, ${(report.corpusBytes / 1e6).toFixed(1)} MB on day 1. Machine: ${report.machine.cpus} CPUs, Node ${report.machine.node}.`,
    "",
    "Backup and restore costs are wall / cpu seconds.",
    "",
    chunkSizeTable(report.results),
    "",
  ].join("\n");
  await writeFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await writeFile(`${base}.md`, markdown);
  return { json: `${base}.json`, markdown: `${base}.md` };
}

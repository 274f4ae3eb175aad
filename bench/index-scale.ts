import { createHash, randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LocalBackend } from "../src/store/backend/local-backend.js";
import { compressDocument } from "../src/store/document-codec.js";
import { hashBytes } from "../src/store/id.js";
import { serializeIndexFile, type IndexedPack } from "../src/store/index/index-file.js";
import { listIndexFiles, readIndexFile } from "../src/store/index/index-sync.js";
import { openLocalRepository } from "../src/store/open-local.js";
import { measure } from "./measure.js";
import { CairnTool } from "./tools/cairn-tool.js";

export interface IndexScaleResult {
  blobs: number;
  ingestSeconds: number;
  ingestPeakRssMiB: number;
  backupWallSeconds: number;
  backupPeakRssMiB: number;
  lookupsPerSecond: number;
  /** A backup (of an empty directory) right after one index file was replaced as prune replaces them: the database catching up. */
  afterPruneSeconds: number;
  afterPrunePeakRssMiB: number;
}

const BLOBS_PER_PACK = 1000;
const PACKS_PER_INDEX_FILE = 100;

function syntheticId(n: number): string {
  return createHash("sha256").update(`cairn-bench-blob-${n}`).digest("hex");
}

/** Writes index files describing `count` blobs in made-up packs: what a large repository's index looks like. */
async function writeSyntheticIndex(repo: string, count: number): Promise<void> {
  const backend = new LocalBackend(repo);
  let n = 0;
  while (n < count) {
    const packs: IndexedPack[] = [];
    for (let p = 0; p < PACKS_PER_INDEX_FILE && n < count; p++) {
      const entries = [];
      let offset = 0;
      for (let b = 0; b < BLOBS_PER_PACK && n < count; b++, n++) {
        entries.push({ id: syntheticId(n), type: "data" as const, offset, storedLength: 40_000, plainLength: 65_536, compression: 1 });
        offset += 40_000;
      }
      packs.push({ id: randomBytes(32).toString("hex"), type: "data", size: offset + entries.length * 42 + 12, entries });
    }
    const stored = compressDocument(serializeIndexFile({ packs }));
    await backend.put(`index/${hashBytes(stored)}`, stored);
  }
}

/** What prune does to an index file that lists a pack it deletes: writes the rest anew, then deletes the file. */
async function replaceOneIndexFile(repo: string): Promise<void> {
  const backend = new LocalBackend(repo);
  const [file] = await listIndexFiles(backend);
  if (file === undefined) throw new Error("no index file to replace");
  const content = await readIndexFile(backend, file);
  const stored = compressDocument(serializeIndexFile({ packs: content.packs.slice(1) }));
  await backend.put(`index/${hashBytes(stored)}`, stored);
  await backend.delete(`index/${file}`);
}

/** Random lookups against the index database, half of them hits. */
async function lookupRate(repo: string, count: number): Promise<number> {
  const repository = await openLocalRepository(repo);
  try {
    const probes = 200_000;
    const ids = Array.from({ length: probes }, (_, i) => (i % 2 === 0 ? syntheticId(Math.floor(Math.random() * count)) : randomBytes(32).toString("hex")));
    const start = process.hrtime.bigint();
    let hits = 0;
    for (const id of ids) if (repository.lookupBlob(id)) hits++;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (hits < probes / 2) throw new Error(`index lookups found ${hits} of ${probes / 2} known blobs`);
    return probes / seconds;
  } finally {
    await repository.close();
  }
}

/**
 * For each size: a repository whose index holds that many blobs, then the cost of ingesting it,
 * of a backup that consults it, and of random lookups. Memory must not follow the index size.
 */
export async function runIndexScale(workDir: string, sizes: number[], log: (line: string) => void): Promise<IndexScaleResult[]> {
  const cairn = new CairnTool();
  const sample = join(workDir, "index-scale-sample");
  await mkdir(sample, { recursive: true });
  for (let i = 0; i < 64; i++) await writeFile(join(sample, `f${i}`), randomBytes(1024 * 1024));
  const empty = join(workDir, "index-scale-empty");
  await mkdir(empty, { recursive: true });
  const results: IndexScaleResult[] = [];
  for (const blobs of sizes) {
    const repo = join(workDir, `index-scale-${blobs}`);
    await rm(repo, { recursive: true, force: true });
    await measure(cairn.init(repo));
    log(`index scale: writing ${blobs} synthetic index entries`);
    await writeSyntheticIndex(repo, blobs);
    const ingest = await measure(cairn.backup(repo, empty));
    const backup = await measure(cairn.backup(repo, sample));
    const rate = await lookupRate(repo, blobs);
    await replaceOneIndexFile(repo);
    const afterPrune = await measure(cairn.backup(repo, empty));
    const result = {
      blobs,
      ingestSeconds: ingest.wallSeconds,
      ingestPeakRssMiB: ingest.peakRssMiB,
      backupWallSeconds: backup.wallSeconds,
      backupPeakRssMiB: backup.peakRssMiB,
      lookupsPerSecond: rate,
      afterPruneSeconds: afterPrune.wallSeconds,
      afterPrunePeakRssMiB: afterPrune.peakRssMiB,
    };
    results.push(result);
    log(`index scale ${blobs}: ingest ${result.ingestSeconds.toFixed(1)}s (${result.ingestPeakRssMiB.toFixed(0)} MiB), backup ${result.backupWallSeconds.toFixed(2)}s peak ${result.backupPeakRssMiB.toFixed(0)} MiB, ${Math.round(rate)} lookups/s, after a replaced index file ${result.afterPruneSeconds.toFixed(1)}s (${result.afterPrunePeakRssMiB.toFixed(0)} MiB)`);
    await rm(repo, { recursive: true, force: true });
  }
  return results;
}

export function indexScaleTable(results: IndexScaleResult[]): string {
  const header = ["indexed blobs", "ingest s", "ingest peak RSS MiB", "backup wall s", "backup peak RSS MiB", "lookups/s", "after a replaced index file s", "its peak RSS MiB"];
  const rows = results.map((r) =>
    [
      r.blobs.toLocaleString("en-US"),
      r.ingestSeconds.toFixed(1),
      r.ingestPeakRssMiB.toFixed(0),
      r.backupWallSeconds.toFixed(2),
      r.backupPeakRssMiB.toFixed(0),
      Math.round(r.lookupsPerSecond).toLocaleString("en-US"),
      r.afterPruneSeconds.toFixed(1),
      r.afterPrunePeakRssMiB.toFixed(0),
    ].join(" | "),
  );
  return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r} |`)].join("\n");
}

import { mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dayStart } from "./clock.js";
import { advanceFileTree, writeInitialFileTree, type FileTreeParams } from "./file-tree.js";
import { addImageVersion, writeInitialImages, type ImageParams } from "./image-tars.js";
import { writeSqlDump, type SqlDumpParams } from "./sql-dump.js";

/**
 * The benchmark corpus: a directory with a daily database dump (`sql/app.sql`), `docker save`
 * image tars (`images/`) and a file tree (`files/`), plus `corpus.json` recording seed, scale and
 * day. Day 1 is generated from the seed; each later day applies a small, realistic change set in
 * place. Everything is a pure function of (seed, scale, day), so runs are byte-identical.
 */
export type CorpusScale = "tiny" | "small" | "default";

export interface PartStats {
  files: number;
  bytes: number;
}

export interface CorpusInfo {
  dir: string;
  scale: CorpusScale;
  seed: number;
  day: number;
  sql: PartStats;
  images: PartStats;
  files: PartStats;
  total: PartStats;
}

export interface PartChange {
  added: number;
  modified: number;
  deleted: number;
  /** Bytes written as new content: the whole rewritten dump, the new image tar, edits and added files. */
  newBytes: number;
}

export interface ChangeSummary {
  day: number;
  sql: PartChange;
  images: PartChange;
  files: PartChange;
  /** The corpus after the change. */
  after: CorpusInfo;
}

export interface CorpusState {
  seed: number;
  scale: CorpusScale;
  day: number;
}

interface ScaleParams {
  sql: SqlDumpParams;
  images: ImageParams;
  files: FileTreeParams;
}

const KIB = 1024;
const MIB = 1024 * KIB;
export const DEFAULT_SEED = 1;

/** Sized for about 20 MB, 200 MB and 1.5 GB on day 1, split roughly 40/30/30 over files, SQL and images. */
const SCALES: Record<CorpusScale, ScaleParams> = {
  tiny: {
    sql: { rows: 20_000 },
    images: { scale: 0.012 },
    files: { files: 2_000, mediumShare: 0.02, largeShare: 0, largeMax: 256 * KIB },
  },
  small: {
    sql: { rows: 200_000 },
    images: { scale: 0.13 },
    files: { files: 10_000, mediumShare: 0.05, largeShare: 0.001, largeMax: 2 * MIB },
  },
  default: {
    sql: { rows: 1_500_000 },
    images: { scale: 1 },
    files: { files: 50_000, mediumShare: 0.05, largeShare: 0.004, largeMax: 4 * MIB },
  },
};

const STATE_FILE = "corpus.json";
const STATE_FORMAT = "cairn-bench-corpus/1";

function parts(dir: string): { sql: string; images: string; files: string } {
  return { sql: join(dir, "sql", "app.sql"), images: join(dir, "images"), files: join(dir, "files") };
}

function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32): ${seed}`);
  return seed;
}

function totalOf(...stats: PartStats[]): PartStats {
  return { files: stats.reduce((n, s) => n + s.files, 0), bytes: stats.reduce((n, s) => n + s.bytes, 0) };
}

async function imageStats(dir: string): Promise<PartStats> {
  const names = await readdir(dir);
  const sizes = await Promise.all(names.map(async (name) => (await stat(join(dir, name))).size));
  return totalOf(...sizes.map((bytes) => ({ files: 1, bytes })));
}

/** Records the state, then pins the remaining wall-clock mtimes (state file, part dirs) to the corpus calendar. */
async function writeState(dir: string, state: CorpusState): Promise<void> {
  await writeFile(join(dir, STATE_FILE), JSON.stringify({ format: STATE_FORMAT, ...state }, null, 2) + "\n");
  const time = dayStart(state.day) + 3 * 3600;
  for (const path of [join(dir, STATE_FILE), join(dir, "sql"), join(dir, "images"), dir]) await utimes(path, time, time);
}

/** The corpus recorded in `dir`, or null if `dir` holds none. */
export async function readCorpusState(dir: string): Promise<CorpusState | null> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const parsed = JSON.parse(text) as CorpusState & { format?: string };
  if (parsed.format !== STATE_FORMAT) throw new Error(`${join(dir, STATE_FILE)}: not a ${STATE_FORMAT} state file`);
  return { seed: parsed.seed, scale: parsed.scale, day: parsed.day };
}

/** Generates day 1 into `dir`, which must be missing or empty. */
export async function generateCorpus(dir: string, opts: { scale: CorpusScale; seed?: number }): Promise<CorpusInfo> {
  const seed = checkSeed(opts.seed ?? DEFAULT_SEED);
  const params = SCALES[opts.scale];
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new Error(`corpus directory is not empty: ${dir}`);
  const paths = parts(dir);
  await Promise.all([mkdir(join(dir, "sql")), mkdir(paths.images), mkdir(paths.files)]);
  // The parts are independent; running them together overlaps one part's disk writes with another's generation.
  const [sql, images, files] = await Promise.all([
    writeSqlDump(paths.sql, { seed, day: 1, params: params.sql }),
    writeInitialImages(paths.images, { seed, params: params.images }),
    writeInitialFileTree(paths.files, { seed, params: params.files }),
  ]);
  await writeState(dir, { seed, scale: opts.scale, day: 1 });
  const sqlStats = { files: 1, bytes: sql.bytes };
  return { dir, scale: opts.scale, seed, day: 1, sql: sqlStats, images, files, total: totalOf(sqlStats, images, files) };
}

/** Applies day `day`'s changes in place; `dir` must hold day `day - 1` of the same seed and scale. */
export async function advanceCorpus(
  dir: string,
  opts: { scale: CorpusScale; seed?: number; day: number },
): Promise<ChangeSummary> {
  const seed = checkSeed(opts.seed ?? DEFAULT_SEED);
  const { day, scale } = opts;
  if (!Number.isInteger(day) || day < 2 || day > 0xffff) throw new RangeError(`day must be an integer in [2, 65535]: ${day}`);
  const state = await readCorpusState(dir);
  if (state === null) throw new Error(`no corpus in ${dir}`);
  if (state.seed !== seed || state.scale !== scale || state.day !== day - 1) {
    throw new Error(`${dir} holds day ${state.day} of seed ${state.seed} at scale ${state.scale}; ` +
      `day ${day} of seed ${seed} at scale ${scale} needs day ${day - 1} of the same corpus`);
  }
  const params = SCALES[scale];
  const paths = parts(dir);
  const [sql, imageBytes, files] = await Promise.all([
    writeSqlDump(paths.sql, { seed, day, params: params.sql }),
    addImageVersion(paths.images, { seed, day, params: params.images }),
    advanceFileTree(paths.files, { seed, day, params: params.files }),
  ]);
  await writeState(dir, { seed, scale, day });
  const sqlStats = { files: 1, bytes: sql.bytes };
  const images = await imageStats(paths.images);
  return {
    day,
    sql: { added: 0, modified: 1, deleted: 0, newBytes: sql.bytes },
    images: { added: 1, modified: 0, deleted: 0, newBytes: imageBytes },
    files: { added: files.added, modified: files.modified, deleted: files.deleted, newBytes: files.newBytes },
    after: { dir, scale, seed, day, sql: sqlStats, images, files: files.after, total: totalOf(sqlStats, images, files.after) },
  };
}

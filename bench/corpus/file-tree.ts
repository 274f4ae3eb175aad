import { appendFile, mkdir, open, readFile, unlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DAY_SECONDS, dayStart } from "./clock.js";
import { fillContent, type ContentKind } from "./content.js";
import { Prng } from "./prng.js";
import { TextGenerator } from "./text.js";

/**
 * A home-directory-like tree: many small text files, a long tail of large ones, some binary,
 * nested up to six levels. Its state on day N is a model replayed from (seed, N), not read from
 * disk: day 1 is planned from the seed, and each later day's plan (files edited, added, deleted)
 * is drawn from (seed, day) and applied to the model. Advancing the disk from day N-1 to N
 * replays days 2..N-1 in the model (cheap: no content) and applies only day N's edits to disk.
 */
export interface FileTreeParams {
  /** Files on day 1. */
  files: number;
  /** Share of files of 16 KiB-256 KiB; the rest, except the large ones, are 100 B-16 KiB. */
  mediumShare: number;
  /** Share of files of 256 KiB-`largeMax`. */
  largeShare: number;
  largeMax: number;
}

export interface FileTreeStats {
  files: number;
  bytes: number;
}

export interface FileTreeChanges {
  added: number;
  modified: number;
  deleted: number;
  /** Bytes of new content: appended, inserted, overwritten or in added files. */
  newBytes: number;
}

interface FileEntry {
  path: string;
  kind: ContentKind;
  size: number;
  mtime: number;
  live: boolean;
}

/**
 * An in-place edit: replace `remove` bytes at `offset` with `insert` new bytes. An overwrite keeps
 * the size (a database page write); a splice shifts the tail (a text edit); an append adds at the end.
 */
interface Edit {
  mode: "append" | "splice" | "overwrite";
  file: number;
  offset: number;
  remove: number;
  insert: number;
}

interface DayPlan {
  day: number;
  edits: Edit[];
  added: number[];
  deleted: number[];
}

interface Area {
  name: string;
  weight: number;
  kinds: ContentKind[];
  binaryExtensions: string[];
}

/** Top-level directories; each gives its subtree a typical content mix. */
const AREAS: Area[] = [
  { name: "projects", weight: 35, kinds: ["code", "code", "code", "code", "code", "code", "prose", "mixed", "random"],
    binaryExtensions: [".png", ".woff2", ".gz"] },
  { name: "documents", weight: 20, kinds: ["prose", "prose", "prose", "prose", "mixed", "mixed", "random"],
    binaryExtensions: [".jpg", ".zip", ".xlsx"] },
  { name: "notes", weight: 10, kinds: ["prose"], binaryExtensions: [] },
  { name: "logs", weight: 6, kinds: ["log", "log", "log", "log", "log", "log", "random"], binaryExtensions: [".gz"] },
  { name: "photos", weight: 8, kinds: ["random", "random", "random", "random", "mixed"], binaryExtensions: [".jpg", ".heic", ".png"] },
  { name: "downloads", weight: 8, kinds: ["random", "random", "mixed", "mixed", "prose", "code"],
    binaryExtensions: [".zip", ".tar.gz", ".deb", ".mp4"] },
  { name: "backups", weight: 5, kinds: ["mixed", "mixed", "random", "prose"], binaryExtensions: [".gz", ".zst", ".7z"] },
  { name: "music", weight: 3, kinds: ["random"], binaryExtensions: [".mp3", ".flac", ".ogg"] },
  { name: "config", weight: 5, kinds: ["code", "prose"], binaryExtensions: [] },
];

const EXTENSIONS: Record<Exclude<ContentKind, "random">, string[]> = {
  prose: [".md", ".txt", ".txt", ".html", ".rst", ""],
  code: [".ts", ".js", ".py", ".go", ".c", ".h", ".rs", ".java", ".json", ".yaml", ".sh"],
  log: [".log", ".log", ".out"],
  mixed: [".pdf", ".db", ".sqlite", ".o", ".so", ".docx", ".class"],
};

const MAX_DEPTH = 6;
const MODIFY_RATE = 0.005;
const ADD_RATE = 0.0005;
const DELETE_RATE = 0.0003;
const WRITE_CONCURRENCY = 16;
const KIB = 1024;

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A time during the 24 hours before `day` starts: that day's changes happened then. */
function changeTime(day: number, prng: Prng): number {
  return dayStart(day) - DAY_SECONDS + prng.int(DAY_SECONDS);
}

class FileTreeModel {
  readonly dirs: string[] = [];
  readonly files: FileEntry[] = [];
  private readonly dirsByArea: number[][] = AREAS.map(() => []);
  private readonly areaPicker: number[] = [];
  private readonly paths = new Set<string>();
  private liveCount = 0;

  constructor(
    private readonly seed: number,
    private readonly params: FileTreeParams,
    private readonly text: TextGenerator,
  ) {
    AREAS.forEach((area, i) => {
      for (let w = 0; w < area.weight; w++) this.areaPicker.push(i);
    });
    const prng = new Prng(seed, "files-plan");
    AREAS.forEach((area, i) => this.addDir(area.name, i));
    const depth = (d: number): number => this.dirs[d].split("/").length;
    for (let n = Math.max(AREAS.length * 2, Math.round(params.files / 20)); this.dirs.length < n; ) {
      const area = prng.pick(this.areaPicker);
      const parent = prng.pick(this.dirsByArea[area]);
      if (depth(parent) >= MAX_DEPTH) continue;
      const name = `${this.text.word(prng)}${prng.chance(0.3) ? `-${this.text.word(prng)}` : ""}`;
      const path = `${this.dirs[parent]}/${name}`;
      if (!this.paths.has(path)) this.addDir(path, area);
    }
    for (let i = 0; i < params.files; i++) this.addFile(prng, dayStart(1) - 1 - prng.int(365 * DAY_SECONDS));
  }

  get stats(): FileTreeStats {
    let bytes = 0;
    for (const f of this.files) if (f.live) bytes += f.size;
    return { files: this.liveCount, bytes };
  }

  /** Draws day `day`'s changes and applies them to the model. */
  planDay(day: number): DayPlan {
    const prng = new Prng(this.seed, "files-day", day);
    const touched = new Set<number>();
    const pickLive = (): number => {
      for (;;) {
        const i = prng.int(this.files.length);
        if (this.files[i].live && !touched.has(i)) {
          touched.add(i);
          return i;
        }
      }
    };
    const edits: Edit[] = [];
    for (let n = Math.max(1, Math.round(this.liveCount * MODIFY_RATE)); n > 0; n--) {
      const file = pickLive();
      const entry = this.files[file];
      const edit = this.edit(file, entry, prng);
      entry.size += edit.insert - edit.remove;
      entry.mtime = changeTime(day, prng);
      edits.push(edit);
    }
    const deleted: number[] = [];
    for (let n = Math.max(2, Math.round(this.params.files * DELETE_RATE)); n > 0; n--) {
      const file = pickLive();
      this.files[file].live = false;
      this.liveCount--;
      deleted.push(file);
    }
    const added: number[] = [];
    for (let n = Math.max(3, Math.round(this.params.files * ADD_RATE)); n > 0; n--) {
      added.push(this.addFile(prng, changeTime(day, prng)));
    }
    return { day, edits, added, deleted };
  }

  /** Logs grow; text is appended to or edited in the middle; binaries get pages overwritten or data appended. */
  private edit(file: number, entry: FileEntry, prng: Prng): Edit {
    const { size, kind } = entry;
    const append = (max: number): Edit =>
      ({ mode: "append", file, offset: size, remove: 0, insert: prng.logUniform(64, Math.max(128, max)) });
    if (kind === "log") return append(size * 0.05);
    if (kind === "prose" || kind === "code") {
      if (size === 0 || prng.chance(0.5)) return append(size * 0.1);
      const offset = prng.int(size);
      const remove = Math.min(size - offset, prng.logUniform(1, 2 * KIB));
      return { mode: "splice", file, offset, remove, insert: prng.logUniform(1, 2 * KIB) };
    }
    if (size < 4 * KIB || prng.chance(0.3)) return append(size * 0.05);
    const pageSize = 4 * KIB;
    const length = Math.min(size, pageSize * (1 + prng.int(4)));
    const offset = pageSize * prng.int(Math.floor((size - length) / pageSize) + 1);
    return { mode: "overwrite", file, offset, remove: length, insert: length };
  }

  private addDir(path: string, area: number): void {
    this.dirsByArea[area].push(this.dirs.length);
    this.dirs.push(path);
    this.paths.add(path);
  }

  private addFile(prng: Prng, mtime: number): number {
    const area = prng.pick(this.areaPicker);
    const dir = this.dirs[prng.pick(this.dirsByArea[area])];
    const kind = prng.pick(AREAS[area].kinds);
    const extensions = kind === "random" ? AREAS[area].binaryExtensions : EXTENSIONS[kind];
    let path: string;
    do {
      const name = `${this.text.word(prng)}${prng.chance(0.6) ? `_${this.text.word(prng)}` : ""}`;
      path = `${dir}/${name}${prng.chance(0.2) ? `-${prng.int(100)}` : ""}${prng.pick(extensions)}`;
    } while (this.paths.has(path));
    this.paths.add(path);
    const u = prng.float();
    const { mediumShare, largeShare, largeMax } = this.params;
    const size = u < largeShare
      ? prng.logUniform(256 * KIB, largeMax)
      : u < largeShare + mediumShare
        ? prng.logUniform(16 * KIB, 256 * KIB)
        : prng.logUniform(100, 16 * KIB);
    this.files.push({ path, kind, size, mtime, live: true });
    this.liveCount++;
    return this.files.length - 1;
  }
}

function content(model: FileTreeModel, file: number, text: TextGenerator, seed: number): Buffer {
  const entry = model.files[file];
  const body = Buffer.allocUnsafe(entry.size);
  fillContent(body, entry.kind, new Prng(seed, "file", file), text);
  return body;
}

async function writeNewFile(root: string, model: FileTreeModel, file: number, text: TextGenerator, seed: number): Promise<void> {
  const entry = model.files[file];
  const path = join(root, entry.path);
  await writeFile(path, content(model, file, text, seed));
  await utimes(path, entry.mtime, entry.mtime);
}

/** Writes the day-1 tree under `root` (which must not exist yet or be empty). */
export async function writeInitialFileTree(
  root: string,
  opts: { seed: number; params: FileTreeParams },
): Promise<FileTreeStats> {
  const text = new TextGenerator(opts.seed);
  const model = new FileTreeModel(opts.seed, opts.params, text);
  for (const dir of model.dirs) await mkdir(join(root, dir), { recursive: true });
  const indices = model.files.map((_, i) => i);
  await forEachLimit(indices, WRITE_CONCURRENCY, (i) => writeNewFile(root, model, i, text, opts.seed));
  // Directory mtimes last: writing files into them has just changed them.
  const dirTime = dayStart(1) - DAY_SECONDS;
  for (const dir of [...model.dirs, ""]) await utimes(join(root, dir), dirTime, dirTime);
  return model.stats;
}

/** Applies day `day`'s edits to a tree that holds day `day - 1`. */
export async function advanceFileTree(
  root: string,
  opts: { seed: number; params: FileTreeParams; day: number },
): Promise<FileTreeChanges & { after: FileTreeStats }> {
  const { seed, day } = opts;
  const text = new TextGenerator(seed);
  const model = new FileTreeModel(seed, opts.params, text);
  for (let d = 2; d < day; d++) model.planDay(d);
  const plan = model.planDay(day);

  let newBytes = 0;
  await forEachLimit(plan.edits, WRITE_CONCURRENCY, async (edit) => {
    const entry = model.files[edit.file];
    const path = join(root, entry.path);
    const insert = Buffer.allocUnsafe(edit.insert);
    fillContent(insert, entry.kind, new Prng(seed, "file-edit", day, edit.file), text);
    newBytes += insert.length;
    if (edit.mode === "overwrite") {
      const handle = await open(path, "r+");
      try {
        await handle.write(insert, 0, insert.length, edit.offset);
      } finally {
        await handle.close();
      }
    } else if (edit.mode === "append") {
      await appendFile(path, insert);
    } else {
      const old = await readFile(path);
      await writeFile(path, Buffer.concat([old.subarray(0, edit.offset), insert, old.subarray(edit.offset + edit.remove)]));
    }
    await utimes(path, entry.mtime, entry.mtime);
  });
  await forEachLimit(plan.added, WRITE_CONCURRENCY, async (file) => {
    newBytes += model.files[file].size;
    await writeNewFile(root, model, file, text, seed);
  });
  for (const file of plan.deleted) await unlink(join(root, model.files[file].path));

  const dirTime = dayStart(day) - 3600;
  const dirs = new Set([...plan.added, ...plan.deleted].map((f) => dirname(model.files[f].path)));
  for (const dir of dirs) await utimes(join(root, dir), dirTime, dirTime);
  return { added: plan.added.length, modified: plan.edits.length, deleted: plan.deleted.length, newBytes, after: model.stats };
}

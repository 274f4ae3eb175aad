import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { advanceCorpus, generateCorpus, type ChangeSummary, type CorpusInfo } from "../../bench/corpus/corpus.js";

interface FileRecord {
  hash: string;
  size: number;
  mtimeMs: number;
}

/** Every regular file under `root`, by relative path: content hash, size and mtime. */
async function snapshot(root: string): Promise<Map<string, FileRecord>> {
  const records = new Map<string, FileRecord>();
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(path);
      } else {
        const content = await readFile(join(root, path));
        const info = await stat(join(root, path));
        records.set(path, { hash: createHash("sha256").update(content).digest("hex"), size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  };
  await walk("");
  return records;
}

/** One hash over every file's path and content. */
function treeHash(records: Map<string, FileRecord>): string {
  const hash = createHash("sha256");
  for (const [path, record] of records) hash.update(`${path}\0${record.hash}\n`);
  return hash.digest("hex");
}

async function tarEntries(path: string): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  const extract = tar.extract();
  createReadStream(path).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    entries.set(entry.header.name, Buffer.concat(chunks));
  }
  return entries;
}

function manifestLayers(entries: Map<string, Buffer>): string[] {
  const manifest = JSON.parse(entries.get("manifest.json")!.toString("utf8")) as { Layers: string[] }[];
  return manifest[0]!.Layers;
}

describe("bench corpus", () => {
  let base: string;
  let first: string;
  let info: CorpusInfo;
  let day1: Map<string, FileRecord>;
  let day1Sql: string;
  let summary: ChangeSummary;
  let day2: Map<string, FileRecord>;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "cairn-corpus-"));
    first = join(base, "a");
    info = await generateCorpus(first, { scale: "tiny", seed: 7 });
    day1 = await snapshot(first);
    day1Sql = await readFile(join(first, "sql", "app.sql"), "latin1");
    summary = await advanceCorpus(first, { scale: "tiny", seed: 7, day: 2 });
    day2 = await snapshot(first);
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("generates byte-identical corpora from the same seed and different ones from another", async () => {
    const again = join(base, "b");
    await generateCorpus(again, { scale: "tiny", seed: 7 });
    const same = await snapshot(again);
    expect(treeHash(same)).toBe(treeHash(day1));
    expect([...same].map(([path, r]) => [path, r.mtimeMs])).toEqual([...day1].map(([path, r]) => [path, r.mtimeMs]));

    await advanceCorpus(again, { scale: "tiny", seed: 7, day: 2 });
    expect(treeHash(await snapshot(again))).toBe(treeHash(day2));

    const other = join(base, "c");
    await generateCorpus(other, { scale: "tiny", seed: 8 });
    expect(treeHash(await snapshot(other))).not.toBe(treeHash(day1));
  });

  it("sizes the tiny corpus at about 20 MB and reports it accurately", () => {
    expect(info.total.bytes).toBeGreaterThan(15e6);
    expect(info.total.bytes).toBeLessThan(30e6);
    for (const part of ["sql", "images", "files"] as const) {
      const prefix = `${part}/`;
      const records = [...day1].filter(([path]) => path.startsWith(prefix)).map(([, r]) => r);
      expect(info[part].files).toBe(records.length);
      expect(info[part].bytes).toBe(records.reduce((n, r) => n + r.size, 0));
    }
    expect(info.files.files).toBe(2000);
    expect(info.day).toBe(1);
  });

  it("changes only a small fraction of files from one day to the next, with new mtimes", () => {
    const files = (records: Map<string, FileRecord>): string[] => [...records.keys()].filter((p) => p.startsWith("files/"));
    const before = new Set(files(day1));
    const after = new Set(files(day2));
    const added = [...after].filter((p) => !before.has(p));
    const deleted = [...before].filter((p) => !after.has(p));
    const modified = [...after].filter((p) => before.has(p) && day1.get(p)!.hash !== day2.get(p)!.hash);
    expect(added.length).toBe(summary.files.added);
    expect(deleted.length).toBe(summary.files.deleted);
    expect(modified.length).toBe(summary.files.modified);
    expect(modified.length).toBeGreaterThan(0);
    expect(added.length + deleted.length + modified.length).toBeLessThan(0.02 * before.size);
    for (const path of modified) expect(day2.get(path)!.mtimeMs).toBeGreaterThan(day1.get(path)!.mtimeMs);
    // Untouched files keep their mtime, so metadata-based change detection skips them.
    const untouched = [...after].filter((p) => before.has(p) && !modified.includes(p));
    for (const path of untouched) expect(day2.get(path)!.mtimeMs).toBe(day1.get(path)!.mtimeMs);

    const newImages = [...day2.keys()].filter((p) => p.startsWith("images/") && !day1.has(p));
    expect(newImages).toHaveLength(1);
    expect(summary.after.total.files).toBe(day2.size - 1); // all but corpus.json
  });

  it("rewrites the SQL dump with most lines unchanged", async () => {
    const lines1 = new Set(day1Sql.split("\n"));
    const lines2 = (await readFile(join(first, "sql", "app.sql"), "latin1")).split("\n");
    const shared = lines2.filter((line) => lines1.has(line)).length;
    expect(shared / lines2.length).toBeGreaterThan(0.95);
    expect(shared).toBeLessThan(lines2.length);
    expect(lines2.filter((line) => line.startsWith("COPY public."))).toHaveLength(4);
  });

  it("shares base layer tars byte-identically between image versions", async () => {
    const v1 = await tarEntries(join(first, "images", "webapp-v001.tar"));
    const v2 = await tarEntries(join(first, "images", "webapp-v002.tar"));
    const other = await tarEntries(join(first, "images", "worker-v001.tar"));
    const layers1 = manifestLayers(v1);
    const layers2 = manifestLayers(v2);
    expect(layers1).toHaveLength(3);
    expect(layers2.slice(0, 2)).toEqual(layers1.slice(0, 2));
    expect(layers2[2]).not.toBe(layers1[2]);
    for (const layer of layers1.slice(0, 2)) {
      expect(v2.get(layer)!.equals(v1.get(layer)!)).toBe(true);
      expect(`blobs/sha256/${createHash("sha256").update(v1.get(layer)!).digest("hex")}`).toBe(layer);
    }
    // webapp and worker are built on the same OS layer.
    expect(manifestLayers(other)[0]).toBe(layers1[0]);
  });

  it("refuses to skip a day", async () => {
    await expect(advanceCorpus(first, { scale: "tiny", seed: 7, day: 4 })).rejects.toThrow(/needs day 3/);
  });
});

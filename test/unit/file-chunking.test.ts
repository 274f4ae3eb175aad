// Reading files for a backup on worker threads: the chunks are exactly the streaming chunker's,
// each file's share of them is known, unreadable files are reported (a FIFO never hangs), and
// only the chunks the caller picks come back, compressed.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkStream, DEFAULT_CHUNKER_PARAMS } from "../../src/chunker/index.js";
import { decodeBlob } from "../../src/store/blob-codec.js";
import type { EncoderPool as EncoderPoolType } from "../../src/store/compression/encoder-pool.js";
import { chunkFiles, type ChunkBatch } from "../../src/store/compression/file-chunking.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import { pseudoRandomBytes } from "../support/test-data.js";

const MiB = 1024 * 1024;
// The compiled pool has its worker script beside it (the TypeScript sources run inline).
const DIST_POOL = fileURLToPath(new URL("../../dist/src/store/compression/encoder-pool.js", import.meta.url));
const DIST_CHUNKING = fileURLToPath(new URL("../../dist/src/store/compression/file-chunking.js", import.meta.url));

let work: string;
let files: { path: string; bytes: Buffer }[];

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-file-chunking-"));
  const make = async (name: string, bytes: Buffer) => {
    const path = join(work, name);
    await fs.writeFile(path, bytes);
    return { path, bytes };
  };
  files = [
    await make("small", Buffer.from("hello world")),
    await make("empty", Buffer.alloc(0)),
    // Larger than a batch: its chunks are delivered in several batches.
    await make("large", pseudoRandomBytes(20 * MiB, 7)),
    await make("medium", pseudoRandomBytes(3 * MiB, 8)),
  ];
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function expectedIds(bytes: Buffer): Promise<Id[]> {
  const ids: Id[] = [];
  for await (const chunk of chunkStream([bytes], DEFAULT_CHUNKER_PARAMS)) ids.push(hashBytes(chunk));
  return ids;
}

async function openFds(): Promise<number> {
  return (await fs.readdir("/proc/self/fd")).length;
}

describe("chunkFiles", () => {
  it("gives each file's chunks in order, as the streaming chunker cuts them, in bounded batches", async () => {
    const batches: ChunkBatch[] = [];
    const bytesNamed: boolean[] = [];
    const paths = files.map((f) => Buffer.from(f.path));
    const results = await chunkFiles(paths, DEFAULT_CHUNKER_PARAMS, async (batch) => {
      batches.push(batch);
      // The chunks' bytes are the ones named, while the batch is delivered (their memory is reused after).
      batch.chunks.forEach((chunk, i) => bytesNamed.push(hashBytes(chunk) === batch.ids[i]));
    });
    const delivered = batches.flatMap((b) => b.ids);
    let at = 0;
    for (const [i, file] of files.entries()) {
      const result = results[i]!;
      expect(result.error).toBeUndefined();
      expect(result.size).toBe(file.bytes.length);
      expect(result.after?.size).toBe(BigInt(file.bytes.length));
      expect(delivered.slice(at, at + result.chunks)).toEqual(await expectedIds(file.bytes));
      at += result.chunks;
    }
    expect(at).toBe(delivered.length);
    expect(bytesNamed).toEqual(delivered.map(() => true));
    expect(batches.length).toBeGreaterThan(2);
    // 2 MiB of chunks, plus those of the read that went past: a window's (2 MiB) and a read's (1 MiB).
    for (const batch of batches) expect(batch.chunks.reduce((n, c) => n + c.length, 0)).toBeLessThanOrEqual(5 * MiB);
  });

  it("reports a file that cannot be opened or read, and reads the others", async () => {
    const paths = [join(work, "missing"), work, files[0]!.path].map((p) => Buffer.from(p));
    const results = await chunkFiles(paths, DEFAULT_CHUNKER_PARAMS, async () => undefined);
    expect(results[0]).toEqual({ chunks: 0, size: 0, error: { during: "open", code: "ENOENT" } });
    expect(results[1]!.error).toEqual({ during: "read", code: "EISDIR" });
    expect(results[2]!.error).toBeUndefined();
    expect(results[2]!.size).toBe(11);
  });

  it("ends with the failure of the caller's verdict and leaves no file open", async () => {
    const before = await openFds();
    const failing = chunkFiles([Buffer.from(files[2]!.path)], DEFAULT_CHUNKER_PARAMS, async () => {
      throw new Error("no room");
    });
    await expect(failing).rejects.toThrow("no room");
    expect(await openFds()).toBe(before);
  });

  it("ends with a failed verdict that carries a system error code, not a read error of the file", async () => {
    // E.g. the index database failing with EIO while the verdict is made: the backup must fail,
    // not record the file as unreadable and go on without its chunks.
    let verdicts = 0;
    const failing = chunkFiles([Buffer.from(files[2]!.path), Buffer.from(files[0]!.path)], DEFAULT_CHUNKER_PARAMS, async () => {
      if (verdicts++ === 0) throw Object.assign(new Error("index unreadable"), { code: "EIO" });
    });
    await expect(failing).rejects.toThrow("index unreadable");
  });

  it("gives the chunker's memory back when more jobs ran at once than a thread keeps memory for", async () => {
    const wasm = (createRequire(import.meta.url)("fastcdc-wasm") as { __wasm: { memory: { buffer: ArrayBuffer } } }).__wasm;
    const paths = [Buffer.from(files[3]!.path)];
    const round = () => Promise.all(Array.from({ length: 8 }, () => chunkFiles(paths, DEFAULT_CHUNKER_PARAMS, async () => undefined)));
    await round();
    const settled = wasm.memory.buffer.byteLength;
    // Each round takes eight windows of 2 MiB and keeps four: without giving the other four
    // back, the wasm's memory would grow by 8 MiB a round.
    for (let i = 0; i < 10; i++) await round();
    expect(wasm.memory.buffer.byteLength).toBe(settled);
  });

  it("does not hang on a FIFO with no writer where a file was", async () => {
    const fifo = join(work, "fifo");
    execFileSync("mkfifo", [fifo]);
    // In a child process: a blocking open would hang this one.
    const script = `import { chunkFiles } from ${JSON.stringify(DIST_CHUNKING)};
const results = await chunkFiles([Buffer.from(${JSON.stringify(fifo)})], { minSize: 65536, avgSize: 262144, maxSize: 1048576 }, async () => {});
console.log(JSON.stringify(results[0].error));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 }).toString().trim();
    expect(JSON.parse(out)).toEqual({ during: "read", code: "ESPIPE" });
  });
});

describe("EncoderPool.chunkFiles on worker threads", () => {
  let pool: EncoderPoolType;

  beforeAll(async () => {
    const { EncoderPool } = (await import(DIST_POOL)) as { EncoderPool: typeof EncoderPoolType };
    pool = new EncoderPool(3, 2);
  });

  afterAll(async () => {
    await pool.close();
  });

  it("sends back, compressed, exactly the chunks picked, in order", async () => {
    const file = files[2]!;
    const decided: Id[] = [];
    const picked: Id[] = [];
    const stored: { id: Id; plain: Buffer }[] = [];
    const results = await pool.chunkFiles([Buffer.from(file.path)], DEFAULT_CHUNKER_PARAMS, {
      decide: async (ids, lengths) => {
        decided.push(...ids);
        const store = ids.map((_, i) => i % 2 === 0 && lengths[i]! > 0);
        picked.push(...ids.filter((_, i) => store[i]));
        return store;
      },
      store: (id, length, blob) => stored.push({ id, plain: decodeBlob(id, blob.stored, blob.compression, length) }),
    });
    const expected = await expectedIds(file.bytes);
    expect(results[0]!.chunks).toBe(expected.length);
    expect(decided).toEqual(expected);
    // decodeBlob checked each one's bytes against its id.
    expect(stored.map((s) => s.id)).toEqual(picked);
    expect(picked.length).toBeGreaterThanOrEqual(Math.floor(expected.length / 2));
  });

  it("fails the job with the error of a verdict that fails, and goes on serving other jobs", async () => {
    const failing = pool.chunkFiles([Buffer.from(files[2]!.path)], DEFAULT_CHUNKER_PARAMS, {
      decide: async () => {
        throw new Error("repository failed");
      },
      store: () => undefined,
    });
    await expect(failing).rejects.toThrow("repository failed");
    const results = await pool.chunkFiles([Buffer.from(files[3]!.path)], DEFAULT_CHUNKER_PARAMS, {
      decide: async (ids) => ids.map(() => false),
      store: () => undefined,
    });
    expect(results[0]!.size).toBe(3 * MiB);
  });
});

import { createHash } from "node:crypto";
import { closeSync, fstatSync, readSync } from "node:fs";
import type { ChunkerParams } from "../../chunker/index.js";
import { chunkWindowBytes, ChunkWindow } from "../../chunker/stream-chunker.js";
import { openSyncForReading } from "../../platform/open-for-reading.js";
import type { Id } from "../id.js";

/** What reading one file of a job gave. */
export interface ChunkedFile {
  /** How many of the job's chunks, in order, are this file's. */
  chunks: number;
  /** Bytes read. */
  size: number;
  /** fstat after the read, to tell whether the file changed meanwhile. */
  after?: { size: bigint; mtimeNs: bigint };
  /** Why the file could not be read; chunks delivered before a read error belong to no file. */
  error?: { during: "open" | "read"; code: string };
}

/**
 * Chunks with their ids, in stream order, handed over for a verdict. The chunks' memory is
 * reused once `deliver` has settled: what is to be kept must be copied (or compressed) by then.
 */
export interface ChunkBatch {
  ids: Id[];
  chunks: Uint8Array<ArrayBuffer>[];
}

/** A job waits for the verdict on each batch before reading on: this bounds the bytes a job holds. */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Files are read straight into the chunk window, this much at a time at most. */
const READ_SIZE = 1024 * 1024;

/**
 * Where a batch's chunks are copied: one buffer per job, reused batch after batch, and jobs'
 * buffers reused job after job. Chunks copied each into a buffer of its own were garbage the
 * moment their verdict was done, and piled up faster than the collector freed them. A batch
 * holds less than BATCH_BYTES before its last read, whose chunks are at most what the window
 * held (the read goes into the window).
 */
class ChunkArena {
  private readonly memory: Uint8Array<ArrayBuffer>;
  private used = 0;

  constructor(size: number) {
    this.memory = new Uint8Array(size);
  }

  readonly allocate = (length: number): Uint8Array<ArrayBuffer> => {
    // Not expected (see above), but then the chunk simply gets a buffer of its own.
    if (this.used + length > this.memory.length) return new Uint8Array(length);
    const chunk = this.memory.subarray(this.used, this.used + length);
    this.used += length;
    return chunk;
  };

  reset(): void {
    this.used = 0;
  }
}

interface JobMemory {
  params: string;
  arena: ChunkArena;
  window: ChunkWindow;
}

const idleJobMemory: JobMemory[] = [];

function jobMemory(params: ChunkerParams): JobMemory {
  const key = JSON.stringify(params);
  const found = idleJobMemory.findIndex((memory) => memory.params === key);
  if (found >= 0) return idleJobMemory.splice(found, 1)[0]!;
  const arena = new ChunkArena(BATCH_BYTES + chunkWindowBytes(params));
  return { params: key, arena, window: new ChunkWindow(params, arena.allocate) };
}

function releaseJobMemory(memory: JobMemory): void {
  memory.window.discard();
  memory.arena.reset();
  // Enough for the jobs a thread runs at once; more would only hold memory. The window's memory
  // is the chunker's (wasm), which no collector frees: it is given back explicitly.
  if (idleJobMemory.length < 4) idleJobMemory.push(memory);
  else memory.window.dispose();
}

/**
 * Reads files whole, one after the other, chunks and hashes them, and hands the chunks to
 * `deliver` in batches (across file boundaries) as they accumulate. Runs on a worker thread, so
 * that the main thread only walks the tree; or inline where workers are unavailable. A failure
 * of `deliver` ends the job with that failure.
 */
export async function chunkFiles(paths: readonly Uint8Array[], params: ChunkerParams, deliver: (batch: ChunkBatch) => Promise<void>): Promise<ChunkedFile[]> {
  const memory = jobMemory(params);
  try {
    return await chunkFilesWith(memory, paths, deliver);
  } finally {
    releaseJobMemory(memory);
  }
}

async function chunkFilesWith({ window, arena }: JobMemory, paths: readonly Uint8Array[], deliver: (batch: ChunkBatch) => Promise<void>): Promise<ChunkedFile[]> {
  const results: ChunkedFile[] = [];
  let batch: ChunkBatch = { ids: [], chunks: [] };
  let batchBytes = 0;
  const take = (chunks: Uint8Array<ArrayBuffer>[]): number => {
    for (const chunk of chunks) {
      batch.ids.push(createHash("sha256").update(chunk).digest("hex"));
      batch.chunks.push(chunk);
      batchBytes += chunk.length;
    }
    return chunks.length;
  };
  const flush = async () => {
    if (batch.ids.length === 0) return;
    const full = batch;
    batch = { ids: [], chunks: [] };
    batchBytes = 0;
    await deliver(full);
    arena.reset();
  };
  for (const path of paths) {
    const asBuffer = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
    let fd: number;
    try {
      fd = openSyncForReading(asBuffer);
    } catch (err) {
      results.push({ chunks: 0, size: 0, error: { during: "open", code: errorCode(err) } });
      continue;
    }
    const file: ChunkedFile = { chunks: 0, size: 0 };
    try {
      for (;;) {
        const { bytes, chunks } = reading(() => window.fill(READ_SIZE, (into) => readSync(fd, into, 0, into.length, file.size)));
        if (bytes === 0) break;
        file.size += bytes;
        file.chunks += take(chunks);
        if (batchBytes >= BATCH_BYTES) await flush();
      }
      file.chunks += take(window.end());
      const after = reading(() => fstatSync(fd, { bigint: true }));
      file.after = { size: after.size, mtimeNs: after.mtimeNs };
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      window.discard();
      file.error = { during: "read", code: errorCode(err.cause) };
    } finally {
      closeSync(fd);
    }
    results.push(file);
    if (batchBytes >= BATCH_BYTES) await flush();
  }
  await flush();
  return results;
}

class FileReadError extends Error {
  constructor(override readonly cause: NodeJS.ErrnoException) {
    super(cause.message);
  }
}

/** Runs one of the file's own system calls: only these make a read error; a failed delivery ends the job. */
function reading<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw new FileReadError(err as NodeJS.ErrnoException);
    throw err;
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

import { createHash } from "node:crypto";
import { closeSync, fstatSync, readSync } from "node:fs";
import type { ChunkerParams } from "../../chunker/index.js";
import { ChunkWindow } from "../../chunker/stream-chunker.js";
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

/** Chunks with their ids, in stream order, handed over for a verdict. */
export interface ChunkBatch {
  ids: Id[];
  chunks: Uint8Array<ArrayBuffer>[];
}

/** A job waits for the verdict on each batch before reading on: this bounds the bytes a job holds. */
const BATCH_BYTES = 2 * 1024 * 1024;
const READ_SIZE = 1024 * 1024;
/** One read buffer per thread: the chunk window copies out of it. */
let readBuffer: Buffer | undefined;

/**
 * Reads files whole, one after the other, chunks and hashes them, and hands the chunks to
 * `deliver` in batches (across file boundaries) as they accumulate. Runs on a worker thread, so
 * that the main thread only walks the tree; or inline where workers are unavailable. A failure
 * of `deliver` ends the job with that failure.
 */
export async function chunkFiles(paths: readonly Uint8Array[], params: ChunkerParams, deliver: (batch: ChunkBatch) => Promise<void>): Promise<ChunkedFile[]> {
  readBuffer ??= Buffer.allocUnsafeSlow(READ_SIZE);
  const window = new ChunkWindow(params);
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
        const n = readSync(fd, readBuffer, 0, READ_SIZE, file.size);
        if (n === 0) break;
        file.size += n;
        file.chunks += take(window.push(n === READ_SIZE ? readBuffer : readBuffer.subarray(0, n)));
        if (batchBytes >= BATCH_BYTES) await flush();
      }
      file.chunks += take(window.end());
      const after = fstatSync(fd, { bigint: true });
      file.after = { size: after.size, mtimeNs: after.mtimeNs };
    } catch (err) {
      if (!(err as NodeJS.ErrnoException).code) throw err;
      window.discard();
      file.error = { during: "read", code: errorCode(err) };
    } finally {
      closeSync(fd);
    }
    results.push(file);
    if (batchBytes >= BATCH_BYTES) await flush();
  }
  await flush();
  return results;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

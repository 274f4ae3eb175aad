import { createHash } from "node:crypto";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { parentPort } from "node:worker_threads";
import type { ChunkerParams } from "../../chunker/index.js";
import { encodeBlob } from "../blob-codec.js";
import { chunkFiles, type ChunkBatch, type ChunkedFile } from "./file-chunking.js";

/**
 * Messages to a worker: `hash` takes ownership of the bytes, answers their SHA-256 and keeps
 * them; `encode` compresses kept bytes (or bytes sent along) and forgets them; `drop` forgets.
 * `files` reads, chunks and hashes files, answering a `batch` of chunk ids at a time; the
 * `verdict` on it says which chunks to compress and send back (`stored`); the rest are dropped.
 * `cancel` instead of a verdict ends the job.
 */
export type WorkerRequest =
  | { op: "hash"; seq: number; plain: Uint8Array }
  | { op: "encode"; seq: number; level: number; plain?: Uint8Array }
  | { op: "drop"; seq: number }
  | { op: "files"; seq: number; paths: Uint8Array[]; params: ChunkerParams; level: number }
  | { op: "verdict"; seq: number; store: boolean[] }
  | { op: "cancel"; seq: number };

export interface StoredChunk {
  stored: Uint8Array;
  compression: number;
}

export type WorkerResponse =
  | { kind: "hashed"; seq: number; id: string }
  | { kind: "encoded"; seq: number; blob: StoredChunk }
  | { kind: "batch"; seq: number; ids: string[]; lengths: number[] }
  | { kind: "stored"; seq: number; blobs: StoredChunk[] }
  | { kind: "files"; seq: number; files: ChunkedFile[] }
  | { kind: "error"; seq: number; error: string };

const kept = new Map<number, Uint8Array>();
/** File jobs waiting for the verdict on their last batch. */
const verdicts = new Map<number, { resolve: (store: boolean[]) => void; reject: (err: Error) => void }>();

// This thread allocates almost nothing on its own heap, so V8 seldom collects it and the buffers
// sent for `hash` and `encode` pile up as external memory once done with (100+ MiB per worker).
// Collecting after every few MiB released keeps resident memory flat; a collection of this tiny
// heap is cheap. (File jobs copy their chunks into reused memory and leave no such garbage.)
v8.setFlagsFromString("--expose-gc");
const collect = vm.runInNewContext("gc") as () => void;
const COLLECT_EVERY = 32 * 1024 * 1024;
let released = 0;

function release(bytes: number): void {
  released += bytes;
  if (released >= COLLECT_EVERY) {
    released = 0;
    collect();
  }
}

function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

function post(response: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(response, transfer);
}

/** Compresses `plain`; what comes back never shares memory with it, which is reused or released. */
function encode(plain: Uint8Array, level: number): StoredChunk {
  const { stored, compression } = encodeBlob(plain, level);
  return { stored: stored === plain ? plain.slice() : new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength), compression };
}

function transferable(blobs: StoredChunk[]): ArrayBuffer[] {
  return blobs.filter((b) => ownsBuffer(b.stored)).map((b) => b.stored.buffer as ArrayBuffer);
}

async function runFiles(request: Extract<WorkerRequest, { op: "files" }>): Promise<void> {
  const deliver = async (batch: ChunkBatch): Promise<void> => {
    const store = await new Promise<boolean[]>((resolve, reject) => {
      verdicts.set(request.seq, { resolve, reject });
      post({ kind: "batch", seq: request.seq, ids: batch.ids, lengths: batch.chunks.map((c) => c.length) });
    });
    const blobs: StoredChunk[] = [];
    batch.chunks.forEach((chunk, i) => store[i] && blobs.push(encode(chunk, request.level)));
    if (blobs.length > 0) post({ kind: "stored", seq: request.seq, blobs }, transferable(blobs));
  };
  try {
    const files = await chunkFiles(request.paths, request.params, deliver);
    post({ kind: "files", seq: request.seq, files });
  } catch (err) {
    post({ kind: "error", seq: request.seq, error: (err as Error).message });
  } finally {
    verdicts.delete(request.seq);
  }
}

// Runs reading, chunking, SHA-256 and zstd off the main thread: zstd-napi has no async API of its own.
parentPort?.on("message", (request: WorkerRequest) => {
  try {
    switch (request.op) {
      case "drop":
        release(kept.get(request.seq)?.length ?? 0);
        kept.delete(request.seq);
        break;
      case "hash":
        kept.set(request.seq, request.plain);
        post({ kind: "hashed", seq: request.seq, id: createHash("sha256").update(request.plain).digest("hex") });
        break;
      case "encode": {
        const plain = request.plain ?? kept.get(request.seq);
        kept.delete(request.seq);
        if (!plain) throw new Error(`no bytes kept for request ${request.seq}`);
        const blob = encode(plain, request.level);
        release(plain.length);
        post({ kind: "encoded", seq: request.seq, blob }, transferable([blob]));
        break;
      }
      case "files":
        void runFiles(request);
        break;
      case "verdict":
        verdicts.get(request.seq)?.resolve(request.store);
        break;
      case "cancel":
        verdicts.get(request.seq)?.reject(new Error("cancelled"));
        break;
    }
  } catch (err) {
    post({ kind: "error", seq: request.seq, error: (err as Error).message });
  }
});

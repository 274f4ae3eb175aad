import { createHash } from "node:crypto";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { parentPort } from "node:worker_threads";
import { encodeBlob } from "../blob-codec.js";

/**
 * Messages to a worker: `hash` takes ownership of the bytes, answers their SHA-256 and keeps
 * them; `encode` compresses kept bytes (or bytes sent along) and forgets them; `drop` forgets.
 */
export type WorkerRequest =
  | { op: "hash"; seq: number; plain: Uint8Array }
  | { op: "encode"; seq: number; level: number; plain?: Uint8Array }
  | { op: "drop"; seq: number };

export interface WorkerResponse {
  seq: number;
  id?: string;
  stored?: Uint8Array;
  compression?: number;
  error?: string;
}

const kept = new Map<number, Uint8Array>();

// This thread allocates almost nothing on its own heap, so V8 seldom collects it and the chunk
// buffers it has finished with pile up as external memory (100+ MiB per worker). Collecting
// after every few MiB released keeps resident memory flat; a collection of this tiny heap is cheap.
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

// Runs SHA-256 and zstd off the main thread: zstd-napi has no async API of its own.
parentPort?.on("message", (request: WorkerRequest) => {
  try {
    if (request.op === "drop") {
      release(kept.get(request.seq)?.length ?? 0);
      kept.delete(request.seq);
    } else if (request.op === "hash") {
      kept.set(request.seq, request.plain);
      parentPort?.postMessage({ seq: request.seq, id: createHash("sha256").update(request.plain).digest("hex") } satisfies WorkerResponse);
    } else {
      const plain = request.plain ?? kept.get(request.seq);
      kept.delete(request.seq);
      if (!plain) throw new Error(`no bytes kept for request ${request.seq}`);
      const { stored, compression } = encodeBlob(plain, request.level);
      release(plain.length);
      const out = stored === plain ? plain : new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
      const transfer = ownsBuffer(out) ? [out.buffer as ArrayBuffer] : [];
      parentPort?.postMessage({ seq: request.seq, stored: out, compression } satisfies WorkerResponse, transfer);
    }
  } catch (err) {
    parentPort?.postMessage({ seq: request.seq, error: (err as Error).message } satisfies WorkerResponse);
  }
});

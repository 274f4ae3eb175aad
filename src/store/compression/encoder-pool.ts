import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { ChunkerParams } from "../../chunker/index.js";
import { CairnError } from "../../errors.js";
import { encodeBlob, type CompressionCode, type EncodedBlob } from "../blob-codec.js";
import type { Id } from "../id.js";
import type { StoredChunk, WorkerRequest, WorkerResponse } from "./encode-worker.js";
import { chunkFiles, type ChunkedFile } from "./file-chunking.js";

/** Blobs this small cost more to ship to a worker than to hash and compress here. */
const INLINE_LIMIT = 4 * 1024;

/** A blob whose hash is known; its bytes wait on a worker (or here) until encoded or dropped. */
export interface HashedBlob {
  id: Id;
  length: number;
  worker?: number;
  seq?: number;
  plain?: Uint8Array;
}

/** What a file job asks of its caller. */
export interface FileChunkHandlers {
  /** Which chunks of a batch must be stored (may wait, to hold the job back). */
  decide(ids: Id[], lengths: number[]): Promise<boolean[]>;
  /** A chunk decided for storage, compressed; in the order of the batches. */
  store(id: Id, length: number, blob: EncodedBlob): void;
}

interface Pending {
  resolve: (response: WorkerResponse) => void;
  reject: (err: Error) => void;
}

function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

function encodedFrom(blob: StoredChunk): EncodedBlob {
  const { stored } = blob;
  return { stored: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength), compression: blob.compression as CompressionCode };
}

/**
 * Reads, chunks, hashes and compresses on worker threads, leaving the main thread to walk the
 * tree and write packs. A chunk that owns its buffer is transferred, not copied, and stays on
 * its worker between the hash (which decides whether the repository needs it) and the compression.
 */
export class EncoderPool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  /** Requests answered by one message, and file jobs, which get several: by sequence number. */
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private started = false;

  constructor(
    private readonly level: number,
    private readonly workerCount = Math.max(1, Math.min(4, os.availableParallelism())),
  ) {}

  /** Workers start with the first blob that needs one: a backup that adds nothing never pays for them. */
  private hasWorkers(): boolean {
    if (this.workers.length === 0 && !this.started) {
      this.started = true;
      const script = workerScript();
      for (let i = 0; i < this.workerCount && script; i++) {
        const worker = new Worker(script);
        worker.unref();
        worker.on("message", (response: WorkerResponse) => this.settle(response));
        worker.on("error", (err) => this.failAll(err));
        this.workers.push(worker);
        this.busy.push(0);
      }
    }
    return this.workers.length > 0;
  }

  /** Hashes `plain`, taking ownership of its buffer when it can (the caller must not use it afterwards). */
  async hash(plain: Uint8Array): Promise<HashedBlob> {
    const length = plain.length;
    if (length <= INLINE_LIMIT || !ownsBuffer(plain) || !this.hasWorkers()) {
      return { id: createHash("sha256").update(plain).digest("hex"), length, plain };
    }
    const worker = this.leastBusy();
    const seq = this.seq++;
    const response = await this.request(worker, { op: "hash", seq, plain }, [plain.buffer as ArrayBuffer]);
    return { id: (response as Extract<WorkerResponse, { kind: "hashed" }>).id, length, worker, seq };
  }

  /** Compresses a hashed blob (its kept bytes are released). */
  async encode(blob: HashedBlob): Promise<EncodedBlob> {
    if (blob.plain !== undefined) {
      if (blob.length <= INLINE_LIMIT || this.level <= 0 || !this.hasWorkers()) return encodeBlob(blob.plain, this.level);
      return this.encodeOn(this.leastBusy(), { op: "encode", seq: this.seq++, level: this.level, plain: blob.plain });
    }
    return this.encodeOn(blob.worker!, { op: "encode", seq: blob.seq!, level: this.level });
  }

  /** Releases a hashed blob the repository already has. */
  drop(blob: HashedBlob): void {
    if (blob.worker !== undefined) this.workers[blob.worker]?.postMessage({ op: "drop", seq: blob.seq! } satisfies WorkerRequest);
  }

  /**
   * Reads files whole on one worker (see chunkFiles): their chunks' ids come back in batches,
   * `decide` picks the ones to store, and only those come back, compressed. The bytes never
   * reach this thread otherwise.
   */
  chunkFiles(paths: Uint8Array[], params: ChunkerParams, handlers: FileChunkHandlers): Promise<ChunkedFile[]> {
    if (!this.hasWorkers()) {
      return chunkFiles(paths, params, async (batch) => {
        const store = await handlers.decide(batch.ids, batch.chunks.map((c) => c.length));
        batch.chunks.forEach((chunk, i) => {
          if (!store[i]) return;
          const blob = encodeBlob(chunk, this.level);
          // The chunk's memory is reused after this batch: keep a copy, not the chunk itself.
          handlers.store(batch.ids[i]!, chunk.length, blob.stored === chunk ? { ...blob, stored: chunk.slice() } : blob);
        });
      });
    }
    const worker = this.leastBusy();
    const seq = this.seq++;
    let storing: { ids: Id[]; lengths: number[] } = { ids: [], lengths: [] };
    let failure: Error | undefined;
    const onBatch = (ids: Id[], lengths: number[]) => {
      handlers.decide(ids, lengths).then(
        (store) => {
          storing = { ids: ids.filter((_, i) => store[i]), lengths: lengths.filter((_, i) => store[i]) };
          this.workers[worker]?.postMessage({ op: "verdict", seq, store } satisfies WorkerRequest);
        },
        (err: Error) => {
          failure = err;
          this.workers[worker]?.postMessage({ op: "cancel", seq } satisfies WorkerRequest);
        },
      );
    };
    this.busy[worker]!++;
    return new Promise<ChunkedFile[]>((resolve, reject) => {
      this.pending.set(seq, {
        resolve: (response) => {
          if (response.kind === "batch") {
            onBatch(response.ids, response.lengths);
            return;
          }
          if (response.kind === "stored") {
            response.blobs.forEach((blob, i) => handlers.store(storing.ids[i]!, storing.lengths[i]!, encodedFrom(blob)));
            return;
          }
          this.pending.delete(seq);
          if (response.kind === "files") resolve(response.files);
          else reject(failure ?? new CairnError(`file reading worker failed: ${(response as { error?: string }).error}`));
        },
        reject,
      });
      this.workers[worker]!.postMessage({ op: "files", seq, paths, params, level: this.level } satisfies WorkerRequest);
    }).finally(() => this.busy[worker]!--);
  }

  private async encodeOn(worker: number, request: WorkerRequest): Promise<EncodedBlob> {
    const response = await this.request(worker, request, []);
    return encodedFrom((response as Extract<WorkerResponse, { kind: "encoded" }>).blob);
  }

  private leastBusy(): number {
    let target = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i]! < this.busy[target]!) target = i;
    return target;
  }

  private request(worker: number, request: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerResponse> {
    this.busy[worker]!++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      this.pending.set(request.seq, {
        resolve: (response) => {
          this.pending.delete(request.seq);
          if (response.kind === "error") reject(new CairnError(`compression worker failed: ${response.error}`));
          else resolve(response);
        },
        reject,
      });
      this.workers[worker]!.postMessage(request, transfer);
    }).finally(() => this.busy[worker]!--);
  }

  private settle(response: WorkerResponse): void {
    this.pending.get(response.seq)?.resolve(response);
  }

  private failAll(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.failAll(new CairnError("the worker threads were stopped"));
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/** The compiled worker sits beside this file; when running from TypeScript sources it is absent and work stays inline. */
function workerScript(): string | undefined {
  const script = fileURLToPath(new URL("./encode-worker.js", import.meta.url));
  return existsSync(script) ? script : undefined;
}

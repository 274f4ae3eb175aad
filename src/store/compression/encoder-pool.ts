import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CairnError } from "../../errors.js";
import { encodeBlob, type CompressionCode, type EncodedBlob } from "../blob-codec.js";
import type { Id } from "../id.js";
import type { WorkerRequest, WorkerResponse } from "./encode-worker.js";

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

interface Pending {
  resolve: (response: WorkerResponse) => void;
  reject: (err: Error) => void;
}

function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

/**
 * Hashes and compresses blobs on worker threads, leaving the main thread to read and chunk.
 * A chunk that owns its buffer is transferred, not copied, and stays on its worker between the
 * hash (which decides whether the repository needs it) and the compression.
 */
export class EncoderPool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
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
    return { id: response.id!, length, worker, seq };
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

  private async encodeOn(worker: number, request: WorkerRequest): Promise<EncodedBlob> {
    const response = await this.request(worker, request, []);
    const stored = response.stored!;
    return { stored: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength), compression: response.compression as CompressionCode };
  }

  private leastBusy(): number {
    let target = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i]! < this.busy[target]!) target = i;
    return target;
  }

  private request(worker: number, request: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerResponse> {
    this.busy[worker]!++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      this.pending.set(request.seq, { resolve, reject });
      this.workers[worker]!.postMessage(request, transfer);
    }).finally(() => this.busy[worker]!--);
  }

  private settle(response: WorkerResponse): void {
    const pending = this.pending.get(response.seq);
    if (!pending) return;
    this.pending.delete(response.seq);
    if (response.error !== undefined) pending.reject(new CairnError(`compression worker failed: ${response.error}`));
    else pending.resolve(response);
  }

  private failAll(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/** The compiled worker sits beside this file; when running from TypeScript sources it is absent and work stays inline. */
function workerScript(): string | undefined {
  const script = fileURLToPath(new URL("./encode-worker.js", import.meta.url));
  return existsSync(script) ? script : undefined;
}

import { existsSync } from "node:fs";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CairnError } from "../../errors.js";
import { encodeBlob, type CompressionCode, type EncodedBlob } from "../blob-codec.js";
import type { EncodeRequest, EncodeResponse } from "./encode-worker.js";

/** Blobs this small cost more to ship to a worker than to compress here. */
const INLINE_LIMIT = 16 * 1024;

interface Pending {
  resolve: (blob: EncodedBlob) => void;
  reject: (err: Error) => void;
}

/**
 * Compresses blobs on worker threads so chunking and hashing on the main thread overlap with
 * zstd. Requests go round-robin to the least busy worker; results come back by sequence number.
 */
export class EncoderPool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  constructor(
    private readonly level: number,
    workerCount = Math.max(1, Math.min(4, os.availableParallelism())),
  ) {
    const script = workerScript();
    for (let i = 0; i < workerCount && script; i++) {
      const worker = new Worker(script);
      worker.unref();
      worker.on("message", (response: EncodeResponse) => this.settle(i, response));
      worker.on("error", (err) => this.failAll(err));
      this.workers.push(worker);
      this.busy.push(0);
    }
  }

  get inFlight(): number {
    return this.pending.size;
  }

  encode(plain: Uint8Array): Promise<EncodedBlob> {
    if (this.workers.length === 0 || plain.length <= INLINE_LIMIT || this.level <= 0) {
      return Promise.resolve(encodeBlob(plain, this.level));
    }
    let target = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i]! < this.busy[target]!) target = i;
    const seq = this.seq++;
    this.busy[target]!++;
    return new Promise<EncodedBlob>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.workers[target]!.postMessage({ seq, plain, level: this.level } satisfies EncodeRequest);
    });
  }

  private settle(worker: number, response: EncodeResponse): void {
    this.busy[worker]!--;
    const pending = this.pending.get(response.seq);
    if (!pending) return;
    this.pending.delete(response.seq);
    if (response.error !== undefined || !response.stored) {
      pending.reject(new CairnError(`compression failed: ${response.error ?? "no output"}`));
    } else {
      pending.resolve({ stored: Buffer.from(response.stored.buffer, response.stored.byteOffset, response.stored.byteLength), compression: response.compression as CompressionCode });
    }
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

/** The compiled worker sits beside this file; when running from TypeScript sources it is absent and encoding stays inline. */
function workerScript(): string | undefined {
  const script = fileURLToPath(new URL("./encode-worker.js", import.meta.url));
  return existsSync(script) ? script : undefined;
}

import { existsSync } from "node:fs";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CairnError, IntegrityError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { decodeBlobTransient } from "../store/blob-codec.js";
import { hashBytes, shortId, type Id } from "../store/id.js";
import { packKey, type PackEntry } from "../store/pack/pack-format.js";
import type { VerifyRequest, VerifyResponse } from "./verify-worker.js";

export interface PackVerification {
  /** The SHA-256 of the pack's bytes is its name. */
  hashMatches: boolean;
  bytesRead: number;
  /** Index entries whose stored bytes do not decode to their id, with why. */
  damaged: { entry: PackEntry; reason: string }[];
}

export interface BytesVerdict {
  hashMatches: boolean;
  /** Positions in `entries` of the blobs that fail, with why. */
  damaged: { index: number; reason: string }[];
}

/**
 * Verifies a pack's bytes the way a restore would use them: the pack's hash against its name,
 * and every blob the index places in it decompressed (into a buffer of the declared size only)
 * and hashed against its id.
 */
export function verifyPackBytes(packId: Id, bytes: Uint8Array, entries: readonly PackEntry[]): BytesVerdict {
  const damaged: BytesVerdict["damaged"] = [];
  entries.forEach((entry, index) => {
    if (entry.offset + entry.storedLength > bytes.length) {
      damaged.push({ index, reason: `is cut off: pack ${shortId(packId)} is truncated` });
      return;
    }
    try {
      decodeBlobTransient(entry.id, bytes.subarray(entry.offset, entry.offset + entry.storedLength), entry.compression, entry.plainLength);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      damaged.push({ index, reason: `fails verification in pack ${shortId(packId)} (${err.message.replace(/^blob [0-9a-f]+: /, "")})` });
    }
  });
  return { hashMatches: hashBytes(bytes) === packId, damaged };
}

/**
 * Reads packs whole and verifies them on worker threads (hashing and zstd are CPU-bound and
 * zstd-napi is synchronous), one pack per worker at a time. Without the compiled worker
 * script (running from TypeScript sources) the work stays on this thread. Read buffers go to
 * a worker and come back with its verdict, to be read into again: a few packs' worth of memory
 * however many packs are read.
 */
export class PackVerifier {
  private readonly idle: Worker[] = [];
  private readonly waiting: ((worker: Worker) => void)[] = [];
  private readonly all: Worker[] = [];
  private readonly spare: Buffer[] = [];
  private seq = 0;

  constructor(workers = os.availableParallelism()) {
    const script = fileURLToPath(new URL("./verify-worker.js", import.meta.url));
    if (!existsSync(script)) return;
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(script);
      worker.unref();
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  /** How many packs are worth reading at once: one per worker, and one more being read. */
  get parallelism(): number {
    return Math.max(1, this.all.length) + 1;
  }

  /** Verifies the pack `packId` of `size` bytes (as listed) against the blobs the index places in it. */
  async verify(backend: Backend, packId: Id, size: number, entries: readonly PackEntry[]): Promise<PackVerification> {
    const { buffer, bytesRead } = await this.read(backend, packId, size);
    let verdict: BytesVerdict;
    if (this.all.length === 0) {
      verdict = verifyPackBytes(packId, buffer.subarray(0, bytesRead), entries);
      this.spare.push(buffer);
    } else {
      const done = await this.onWorker(packId, buffer, bytesRead, entries);
      verdict = done.verdict;
      this.spare.push(done.buffer);
    }
    return { hashMatches: verdict.hashMatches, bytesRead, damaged: verdict.damaged.map((d) => ({ entry: entries[d.index]!, reason: d.reason })) };
  }

  /** The pack's bytes, the first `bytesRead` of `buffer`: a spare buffer read into when the backend can. */
  private async read(backend: Backend, packId: Id, size: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!backend.readInto) {
      const whole = await backend.get(packKey(packId));
      return { buffer: whole, bytesRead: whole.length };
    }
    let buffer = this.spare.pop();
    if (!buffer || buffer.length < size) buffer = Buffer.allocUnsafe(size);
    try {
      await backend.readInto(packKey(packId), { offset: 0, length: size }, buffer);
    } catch (err) {
      this.spare.push(buffer);
      throw err;
    }
    return { buffer, bytesRead: size };
  }

  /** Verifies the first `length` bytes of `buffer` on a worker; the buffer is handed over and back. */
  private async onWorker(packId: Id, buffer: Buffer, length: number, entries: readonly PackEntry[]): Promise<{ verdict: BytesVerdict; buffer: Buffer }> {
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    try {
      const seq = this.seq++;
      // Handed over without a copy when the buffer has its memory to itself (not a slice of Node's pool).
      const owned = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
      const sent = owned ? buffer : Buffer.from(buffer.subarray(0, length));
      const request: VerifyRequest = { seq, packId, bytes: sent, length, entries: [...entries] };
      return await new Promise((resolve, reject) => {
        const onMessage = (response: VerifyResponse) => {
          if (response.seq !== seq) return;
          worker.off("message", onMessage);
          worker.off("error", reject);
          const returned = Buffer.from(response.bytes.buffer, response.bytes.byteOffset, response.bytes.byteLength);
          if (response.error !== undefined) reject(new CairnError(`verification worker failed: ${response.error}`));
          else resolve({ verdict: response.verdict!, buffer: returned });
        };
        worker.on("message", onMessage);
        worker.once("error", reject);
        worker.postMessage(request, [sent.buffer as ArrayBuffer]);
      });
    } finally {
      const next = this.waiting.shift();
      if (next) next(worker);
      else this.idle.push(worker);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

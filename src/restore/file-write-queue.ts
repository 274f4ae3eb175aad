import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CairnError } from "../errors.js";
import type { Id } from "../store/id.js";
import { performWrites, type BlobCheck, type FileWrite, type WritesDone } from "./file-writes.js";
import type { RestoredMetadata } from "./restored-metadata.js";
import type { WriteRequest, WriteResponse } from "./write-worker.js";

/** Where one blob's bytes go: a file, the offset in it, and its size when this write creates it. */
export interface WriteTarget {
  path: Uint8Array;
  offset: number;
  create?: number;
  /** Set on the file's last write: applied after it. */
  metadata?: RestoredMetadata;
  /** Sets the metadata of a file whose metadata was held back because a blob failed its check (see FileWrite). */
  release?: boolean;
  /** See FileWrite: the final name of a file written under a temporary one. */
  renameTo?: Uint8Array;
  /** See FileWrite: removes the temporary file of a file that could not be restored whole. */
  discard?: boolean;
  /** Called once the write is done, with what went wrong setting the metadata if anything did. */
  done: (outcome: WriteOutcome) => void;
}

export interface WriteOutcome {
  metadataProblem?: string;
  /** False when the bytes failed their check and were not written (the file was still created). */
  written: boolean;
}

/**
 * A blob the writer checks against its id before writing it; `corrupt` hears when it fails (its
 * files are then created but not written, their metadata held back until a `release` write).
 */
export interface BlobToCheck {
  id: Id;
  corrupt: (message: string) => void;
}

interface Batch {
  memory: Buffer;
  used: number;
  writes: FileWrite[];
  done: WriteTarget["done"][];
  checks: BlobCheck[];
  corrupt: BlobToCheck["corrupt"][];
}

/** A batch's memory: blobs are decoded straight into it. A larger blob gets memory of its own. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** One batch being filled, one being written, two waiting: the writer never waits for decoding. */
const BATCHES = 4;
/** Empty files take no memory: this bounds what a batch of them holds. */
const WRITES_PER_BATCH = 4096;

/**
 * Checks and writes restored files on a worker thread while this thread reads and decodes:
 * blobs are decoded into a batch's memory, which goes to the writer with the batch's writes and comes back
 * once they are done, so a few batches' memory serves the whole restore. One writer carries out
 * the batches in order, so a file's first write (which creates it) comes before its others.
 * Without the compiled worker script (running from TypeScript sources) the writes happen here.
 */
export class FileWriteQueue {
  private readonly worker?: Worker;
  private readonly spare: Buffer[] = [];
  /** Batch memories in use: being filled, written, or spare. */
  private batches = 0;
  private current?: Batch;
  private readonly writing = new Map<number, Batch>();
  private wakeUps: (() => void)[] = [];
  private failure?: Error;
  private seq = 0;
  /** Without a worker: the files whose metadata is held back (see performWrites). */
  private readonly held = new Set<string>();

  constructor() {
    const script = fileURLToPath(new URL("./write-worker.js", import.meta.url));
    if (!existsSync(script)) return;
    this.worker = new Worker(script);
    this.worker.unref();
    this.worker.on("message", (response: WriteResponse) => this.settle(response));
    this.worker.on("error", (err) => this.fail(err));
  }

  /**
   * Queues `length` bytes for the files `fill` names: `fill` gets the memory to put the bytes in
   * (say, decode a blob into) and returns where they go; a write of length 0 only creates files.
   * If `fill` throws, nothing is queued. With `check`, the writer checks the bytes against the
   * blob's id first, and writes them only if they pass, when it has time to: it has, when it
   * keeps up with this thread. `fill` hears whether it will (if not, it must check them itself).
   */
  async write(length: number, fill: (memory: Buffer, writerChecks: boolean) => WriteTarget[], check?: BlobToCheck): Promise<void> {
    for (;;) {
      this.throwIfFailed();
      const batch = this.current;
      if (batch && batch.used + length <= batch.memory.length && batch.writes.length < WRITES_PER_BATCH) {
        const writerChecks = check !== undefined && this.writing.size < BATCHES - 1;
        const targets = fill(batch.memory.subarray(batch.used, batch.used + length), writerChecks);
        let checkIndex: number | undefined;
        if (check && writerChecks) {
          checkIndex = batch.checks.push({ id: check.id, start: batch.used, length }) - 1;
          batch.corrupt.push(check.corrupt);
        }
        for (const target of targets) {
          batch.writes.push({ path: target.path, create: target.create, offset: target.offset, start: batch.used, length, metadata: target.metadata, check: checkIndex, release: target.release, renameTo: target.renameTo, discard: target.discard });
          batch.done.push(target.done);
        }
        batch.used += length;
        return;
      }
      if (batch) this.send();
      const memory = this.memoryFor(length);
      if (memory) this.current = { memory, used: 0, writes: [], done: [], checks: [], corrupt: [] };
      else await this.wakeUp();
    }
  }

  /** Waits until every queued write is done; throws the first failure. */
  async drain(): Promise<void> {
    if (this.current) this.send();
    while (this.writing.size > 0 && !this.failure) await this.wakeUp();
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  private memoryFor(length: number): Buffer | undefined {
    if (length <= BATCH_BYTES && this.spare.length > 0) return this.spare.pop();
    if (this.batches >= BATCHES && this.spare.length > 0) {
      // Too small for this blob: given up, to make room for memory that fits it.
      this.spare.pop();
      this.batches--;
    }
    if (this.batches >= BATCHES) return undefined;
    this.batches++;
    return Buffer.allocUnsafeSlow(Math.max(length, BATCH_BYTES));
  }

  private send(): void {
    const batch = this.current!;
    this.current = undefined;
    if (batch.writes.length === 0) {
      this.recycle(batch.memory);
      return;
    }
    if (!this.worker) {
      let done: WritesDone;
      try {
        done = performWrites(batch.memory, batch.writes, batch.checks, this.held);
      } catch (err) {
        this.fail(err as Error);
        throw err;
      }
      this.finish(batch, batch.memory, done);
      return;
    }
    const seq = this.seq++;
    this.writing.set(seq, batch);
    const request: WriteRequest = { seq, memory: batch.memory, writes: batch.writes, checks: batch.checks };
    this.worker.postMessage(request, [batch.memory.buffer as ArrayBuffer]);
  }

  private settle(response: WriteResponse): void {
    const batch = this.writing.get(response.seq);
    if (!batch) return;
    this.writing.delete(response.seq);
    if (response.error) {
      this.fail(response.error.expected ? new CairnError(response.error.message) : new Error(`restore writer failed: ${response.error.message}`));
      return;
    }
    this.finish(batch, Buffer.from(response.memory.buffer, response.memory.byteOffset, response.memory.byteLength), response.done ?? { problems: [], corrupt: [] });
  }

  private finish(batch: Batch, memory: Buffer, { problems, corrupt }: WritesDone): void {
    const problemOf = new Map(problems.map((p) => [p.write, p.message]));
    const failed = new Set(corrupt.map((c) => c.check));
    for (const c of corrupt) batch.corrupt[c.check]!(c.message);
    batch.done.forEach((done, index) => {
      const check = batch.writes[index]!.check;
      done({ metadataProblem: problemOf.get(index), written: check === undefined || !failed.has(check) });
    });
    this.recycle(memory);
  }

  private recycle(memory: Buffer): void {
    if (memory.length === BATCH_BYTES) this.spare.push(memory);
    else this.batches--;
    this.wake();
  }

  private wakeUp(): Promise<void> {
    return new Promise((resolve) => this.wakeUps.push(resolve));
  }

  private wake(): void {
    const wakeUps = this.wakeUps;
    this.wakeUps = [];
    for (const wakeUp of wakeUps) wakeUp();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

import type { ChunkedFile } from "../store/compression/file-chunking.js";
import type { Id } from "../store/id.js";
import type { FileReadOptions } from "../store/repository.js";
import type { BlobSink } from "./blob-sink.js";

/** A file read in a batch: its content, or why it could not be read. */
export type ReadOutcome =
  | { content: Id[]; size: number; after: NonNullable<ChunkedFile["after"]> }
  | { error: NonNullable<ChunkedFile["error"]> };

interface Request {
  path: Buffer;
  size: number;
  resolve: (outcome: ReadOutcome) => void;
  reject: (err: unknown) => void;
}

/** Jobs out at once: two per worker, so each has the next while it waits on a verdict. */
const MAX_JOBS = 4;
const MAX_FILES_PER_JOB = 128;
/** By their lstat sizes: a large file goes on its own, small ones many to a job. */
const MAX_BYTES_PER_JOB = 16 * 1024 * 1024;
/** Files waiting for a job before the walk is held back (see runAhead). */
const MAX_QUEUED = 4 * MAX_FILES_PER_JOB;
/** Subdirectories whose walk may be unfinished while their parent's walk goes on. */
const MAX_DIRS_AHEAD = 32;

/**
 * Hands the files a backup must read to the worker threads in batches: one message carries many
 * small files, where one per file (or per chunk) kept the main thread busy with messages. While
 * workers are free, a batch leaves as soon as the walk has queued what it found; when all are
 * busy, batches fill up meanwhile.
 */
export class FileBatcher {
  private queue: Request[] = [];
  private active = 0;
  private dirsAhead = 0;
  private pumping = false;
  private readonly waitingForRoom: (() => void)[] = [];

  constructor(
    private readonly repo: BlobSink,
    private readonly options: FileReadOptions = {},
  ) {}

  read(path: Buffer, size: number): Promise<ReadOutcome> {
    return new Promise<ReadOutcome>((resolve, reject) => {
      this.queue.push({ path, size, resolve, reject });
      // After the current synchronous stretch of the walk: every file it found goes in one batch.
      if (!this.pumping) {
        this.pumping = true;
        queueMicrotask(() => {
          this.pumping = false;
          this.pump();
        });
      }
    });
  }

  /**
   * Whether the walk may go on without waiting for `walk` (a subdirectory) to finish: only while
   * files are being read, so that it finds more to read meanwhile, and for at most a few
   * directories at once. Waits first while too many files are queued. A walk let run ahead is
   * the caller's to await; its failure is handled here so that it does not count as unhandled.
   */
  async runAhead(walk: Promise<void>): Promise<boolean> {
    if (this.active === 0 && this.queue.length === 0) return false;
    if (this.dirsAhead >= MAX_DIRS_AHEAD) return false;
    this.dirsAhead++;
    walk.then(
      () => this.dirsAhead--,
      () => this.dirsAhead--,
    );
    if (this.queue.length >= MAX_QUEUED) await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
    return true;
  }

  private pump(): void {
    while (this.active < MAX_JOBS && this.queue.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && count < MAX_FILES_PER_JOB && (count === 0 || bytes + this.queue[count]!.size <= MAX_BYTES_PER_JOB)) {
        bytes += this.queue[count]!.size;
        count++;
      }
      const job = this.queue.splice(0, count);
      this.active++;
      void this.run(job).finally(() => {
        this.active--;
        this.pump();
      });
    }
    while (this.queue.length < MAX_QUEUED && this.waitingForRoom.length > 0) this.waitingForRoom.shift()!();
  }

  private async run(job: Request[]): Promise<void> {
    try {
      const { ids, files } = await this.repo.saveFiles(job.map((r) => r.path), this.options);
      let at = 0;
      files.forEach((file, i) => {
        const content = ids.slice(at, at + file.chunks);
        at += file.chunks;
        job[i]!.resolve(file.error ? { error: file.error } : { content, size: file.size, after: file.after! });
      });
    } catch (err) {
      for (const request of job) request.reject(err);
    }
  }
}

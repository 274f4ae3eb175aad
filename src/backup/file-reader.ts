import { constants as fsConstants, fstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import * as fs from "node:fs/promises";
import { InterruptedError } from "../errors.js";

const READ_SIZE = 1024 * 1024;
/** Read buffers are reused across files: a fresh 1 MiB buffer per file kept the GC busy. */
const spareBuffers: Buffer[] = [];
const MAX_SPARE_BUFFERS = 8;

/**
 * Reads an open file from the start. One buffer is reused for every read: the consumer (the
 * chunker) copies each read before asking for the next.
 */
export async function* readFile(handle: fs.FileHandle, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let position = 0;
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE);
  try {
    for (;;) {
      if (signal?.aborted) throw new InterruptedError();
      const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield bytesRead === READ_SIZE ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    if (spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buffer);
  }
}

/**
 * Read-only; non-blocking so that a FIFO put where a file was lstat'ed a moment ago cannot hang
 * the backup (for regular files the flag changes nothing).
 */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;
/** Keeps the access time where the kernel allows it (owner or root); refused with EPERM otherwise. */
const NOATIME = fsConstants.O_NOATIME ?? 0;

function noatimeRefused(err: unknown): boolean {
  return NOATIME !== 0 && (err as NodeJS.ErrnoException).code === "EPERM";
}

export async function openForReading(path: Buffer): Promise<fs.FileHandle> {
  try {
    return await fs.open(path, READ_FLAGS | NOATIME);
  } catch (err) {
    if (!noatimeRefused(err)) throw err;
    return fs.open(path, READ_FLAGS);
  }
}

/** openForReading, synchronously. */
export function openSyncForReading(path: Buffer): number {
  try {
    return openSync(path, READ_FLAGS | NOATIME);
  } catch (err) {
    if (!noatimeRefused(err)) throw err;
    return openSync(path, READ_FLAGS);
  }
}

export interface WholeFile {
  bytes: Uint8Array<ArrayBuffer>;
  /** fstat after the read, to tell whether the file changed meanwhile. */
  after: BigIntStats;
}

/**
 * Reads a small open file whole, synchronously: for a page-cached file of a few KiB that costs a few
 * microseconds, where open, read, fstat and close through libuv's thread pool cost a round trip
 * each. The bytes own their ArrayBuffer (they may be handed to a worker). Returns undefined when
 * the file holds more than `size` bytes (it grew since its lstat): the caller streams it instead.
 */
export function readWholeFileSync(fd: number, size: number): WholeFile | undefined {
  const bytes = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const n = readSync(fd, bytes, filled, size - filled, filled);
    if (n === 0) break;
    filled += n;
  }
  if (readSync(fd, probe, 0, 1, filled) > 0) return undefined;
  const after = fstatSync(fd, { bigint: true });
  return { bytes: filled === size ? bytes : bytes.slice(0, filled), after };
}

const probe = new Uint8Array(1);

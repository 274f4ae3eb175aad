import { ioError } from "../errors.js";
import { closeSync, constants as fsConstants, fstatSync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";

/**
 * One piece of a restored file: `length` bytes of a batch's memory, from `start`, written at
 * `offset`. The file's first write (`create`, its final size) creates or truncates it at that
 * size, so what is never written stays a hole; a write of length 0 only does that.
 */
export interface FileWrite {
  path: Uint8Array;
  create?: number;
  offset: number;
  start: number;
  length: number;
}

/**
 * Opens `path` for writing as a regular file. A symlink, FIFO or device found there is removed and
 * a new file made in its place: never written through, and never waited on (O_NONBLOCK: opening
 * a FIFO nobody reads would otherwise block the process for good).
 */
function openRegularFile(path: Uint8Array, truncate: boolean): number {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | (truncate ? fsConstants.O_TRUNC : 0);
  const name = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  try {
    const fd = openSync(name, flags, 0o600);
    if (fstatSync(fd).isFile()) return fd;
    closeSync(fd);
  } catch (err) {
    // ELOOP: a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ELOOP" && code !== "ENXIO") throw err;
  }
  unlinkSync(name);
  return openSync(name, flags | fsConstants.O_EXCL, 0o600);
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

const HOLE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);

/**
 * The byte ranges of `data`, to be written at file offset `offset`, that are not all zeros,
 * cut at file-block boundaries. Files are created at their final size, so the zero ranges
 * left unwritten read back as zeros and stay holes: sparse files come back sparse.
 */
function nonZeroRanges(data: Buffer, offset: number): { start: number; end: number }[] {
  const ranges: { start: number; end: number }[] = [];
  let start = 0;
  while (start < data.length) {
    const end = Math.min(data.length, start + HOLE_BLOCK - ((offset + start) % HOLE_BLOCK));
    if (!data.subarray(start, end).equals(ZERO_BLOCK.subarray(0, end - start))) {
      const last = ranges[ranges.length - 1];
      if (last && last.end === start) last.end = end;
      else ranges.push({ start, end });
    }
    start = end;
  }
  return ranges;
}

/**
 * Carries out writes in order. File operations are synchronous: on a local file system each
 * costs microseconds, and tens of thousands of small files through libuv's thread pool cost
 * more in hand-offs (and in contention on the directory) than the work itself.
 */
export function performWrites(memory: Uint8Array, writes: readonly FileWrite[]): void {
  const bytes = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  for (const write of writes) {
    const data = bytes.subarray(write.start, write.start + write.length);
    const ranges = nonZeroRanges(data, write.offset);
    if (ranges.length === 0 && write.create === undefined) continue;
    try {
      const fd = openRegularFile(write.path, write.create !== undefined);
      try {
        if (write.create !== undefined) ftruncateSync(fd, write.create);
        for (const r of ranges) writeAll(fd, data.subarray(r.start, r.end), write.offset + r.start);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === undefined) throw err;
      throw ioError("cannot write", Buffer.from(write.path).toString(), err);
    }
  }
}

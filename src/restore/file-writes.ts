import { closeSync, constants as fsConstants, fstatSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { ioError } from "../errors.js";
import { blobMismatch } from "../store/blob-verification.js";
import { applyMetadata, applyOpenFileMetadata, type RestoredMetadata } from "./restored-metadata.js";

/**
 * One piece of a restored file: `length` bytes of a batch's memory, from `start`, written at
 * `offset`. The file's first write (`create`, its final size) creates or truncates it at that
 * size, so what is never written stays a hole; a write of length 0 only does that. The file's
 * last write carries its metadata, applied once the bytes are in.
 */
export interface FileWrite {
  path: Uint8Array;
  create?: number;
  offset: number;
  start: number;
  length: number;
  metadata?: RestoredMetadata;
  /** The batch's BlobCheck the bytes must pass before they are written. */
  check?: number;
  /**
   * Sets the metadata of a file whose metadata was held back (see performWrites), once its
   * failed blobs are written from other copies or found to have none.
   */
  release?: boolean;
  /**
   * The file is written under a temporary name (something stood at its own): once its metadata
   * is set it is renamed to this, so what stood there is replaced only by the whole file.
   */
  renameTo?: Uint8Array;
  /** With `release`: the file could not be restored whole; its temporary file is removed instead. */
  discard?: boolean;
}

/** A blob in a batch's memory that is checked against its id before any write of it is done. */
export interface BlobCheck {
  id: string;
  start: number;
  length: number;
}

/** A blob that failed its check: its writes only created their files; the bytes were not written. */
export interface CorruptBlob {
  check: number;
  message: string;
}

export interface WritesDone {
  problems: MetadataProblem[];
  corrupt: CorruptBlob[];
}

/** Metadata that could not be set: the file is restored, so this is a problem to report, not a failure. */
export interface MetadataProblem {
  /** The write's index in its batch. */
  write: number;
  message: string;
}

const WRITE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
const CREATE_FLAGS = WRITE_FLAGS | fsConstants.O_CREAT | fsConstants.O_EXCL;

/**
 * Opens `path` for writing as a regular file; `create` makes it a new, empty one. Whatever
 * stands there is removed first, never written through or reused: a symlink, FIFO or device,
 * a file with other names (hard links, perhaps outside the target), or a file whose inode
 * would keep extended attributes and ACLs the snapshot does not have. O_NONBLOCK: opening a
 * FIFO nobody reads would otherwise block for good.
 */
function openRegularFile(name: Buffer, create: boolean): number {
  if (create) {
    // Into an empty target (the usual case) this one call is all it takes.
    try {
      return openSync(name, CREATE_FLAGS, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    unlinkSync(name);
    return openSync(name, CREATE_FLAGS, 0o600);
  }
  // A later write, into the file this restore created.
  try {
    const fd = openSync(name, WRITE_FLAGS | fsConstants.O_CREAT, 0o600);
    if (fstatSync(fd).isFile()) return fd;
    closeSync(fd);
  } catch (err) {
    // ELOOP: a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ELOOP" && code !== "ENXIO") throw err;
  }
  unlinkSync(name);
  return openSync(name, CREATE_FLAGS, 0o600);
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

const HOLE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);
const EMPTY = Buffer.alloc(0);

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
 * Checks the batch's blobs against their ids, then carries out its writes in order; the writes
 * of a blob that fails its check only create its files, so nothing unverified reaches a file.
 * Such a file goes into `held`: its metadata is not set until a `release` write (the bytes it
 * lacks come later, and a mode or time set now would make it look whole). File operations are
 * synchronous: on a local file system each costs microseconds, and tens of thousands of small
 * files through libuv's thread pool cost more in hand-offs (and in contention on the directory)
 * than the work itself.
 */
export function performWrites(memory: Uint8Array, writes: readonly FileWrite[], checks: readonly BlobCheck[], held: Set<string>): WritesDone {
  const bytes = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const mismatches = checks.map((check) => blobMismatch(check.id, bytes.subarray(check.start, check.start + check.length)));
  const problems: MetadataProblem[] = [];
  writes.forEach((write, index) => {
    const path = Buffer.from(write.path.buffer, write.path.byteOffset, write.path.byteLength);
    const corrupt = write.check !== undefined && mismatches[write.check] !== undefined;
    let metadata = write.metadata;
    // Nearly always empty: the path's key is only made when it is needed.
    if (corrupt || write.release || (metadata && held.size > 0)) {
      const key = path.toString("latin1");
      if (corrupt) held.add(key);
      if (write.release) held.delete(key);
      else if (held.has(key)) metadata = undefined;
    }
    if (write.discard) {
      removeTemporary(path);
      return;
    }
    const problem = writeFile(path, corrupt ? EMPTY : bytes.subarray(write.start, write.start + write.length), write.create, write.offset, metadata);
    if (problem) problems.push({ write: index, message: problem });
    // The metadata set means the file is whole: only then does it take the place of what stood there.
    if (metadata && write.renameTo) moveIntoPlace(path, write.renameTo);
  });
  const corrupt = mismatches.flatMap((message, check) => (message === undefined ? [] : [{ check, message }]));
  return { problems, corrupt };
}

/** Writes one piece of a file and, after its last, sets its metadata: returns what went wrong with that. */
function writeFile(path: Buffer, data: Buffer, create: number | undefined, offset: number, metadata: RestoredMetadata | undefined): string | undefined {
  const ranges = nonZeroRanges(data, offset);
  if (ranges.length === 0 && create === undefined) return metadata && metadataProblem(() => applyMetadata(path, metadata));
  try {
    const fd = openRegularFile(path, create !== undefined);
    try {
      // Empty once opened: written up to its size from the start, a file needs no ftruncate.
      if (create !== undefined && offset + (ranges.at(-1)?.end ?? 0) !== create) ftruncateSync(fd, create);
      for (const r of ranges) writeAll(fd, data.subarray(r.start, r.end), offset + r.start);
      return metadata && metadataProblem(() => applyOpenFileMetadata(fd, path, metadata));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw ioError("cannot write", path.toString(), err);
  }
}

function moveIntoPlace(from: Buffer, to: Uint8Array): void {
  const target = Buffer.from(to.buffer, to.byteOffset, to.byteLength);
  try {
    renameSync(from, target);
  } catch (err) {
    throw ioError("cannot replace", target.toString(), err);
  }
}

function removeTemporary(path: Buffer): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw ioError("cannot remove", path.toString(), err);
  }
}

function metadataProblem(apply: () => void): string | undefined {
  try {
    apply();
    return undefined;
  } catch (err) {
    return `cannot set metadata: ${(err as Error).message}`;
  }
}

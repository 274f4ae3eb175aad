import { futimesSync, lutimesSync } from "node:fs";
import { endianness } from "node:os";
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, cPath, errnoError, libc } from "./libc.js";

const NS_PER_SECOND = 1_000_000_000n;
const LITTLE_ENDIAN = endianness() === "LE";

/**
 * Sets a file's access and modification times to the nanosecond, without following a symlink.
 * Through utimensat when the C library is reachable (about 3 µs a file); otherwise through
 * fs.lutimes, which carries the times as a double and keeps only whole microseconds.
 * Synchronous: restores call it tens of thousands of times, on their writer thread.
 */
export function setFileTimes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const c = libc();
  if (!c) {
    lutimesSync(path, seconds(atimeNs), seconds(mtimeNs));
    return;
  }
  if (c.utimensat(AT_FDCWD, cPath(path), timespecs(atimeNs, mtimeNs), AT_SYMLINK_NOFOLLOW) !== 0) throw errnoError("utimensat", path);
}

/** setFileTimes for a file open as `fd` (`path` names it in errors): no path to resolve. */
export function setOpenFileTimes(fd: number, path: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const c = libc();
  if (!c) {
    futimesSync(fd, seconds(atimeNs), seconds(mtimeNs));
    return;
  }
  if (c.futimens(fd, timespecs(atimeNs, mtimeNs)) !== 0) throw errnoError("futimens", path);
}

function timespecs(atimeNs: bigint, mtimeNs: bigint): Buffer {
  const times = Buffer.alloc(32);
  writeTimespec(times, 0, atimeNs);
  writeTimespec(times, 16, mtimeNs);
  return times;
}

function writeTimespec(buffer: Buffer, offset: number, ns: bigint): void {
  let sec = ns / NS_PER_SECOND;
  let nsec = ns % NS_PER_SECOND;
  if (nsec < 0n) {
    nsec += NS_PER_SECOND;
    sec -= 1n;
  }
  if (LITTLE_ENDIAN) {
    buffer.writeBigInt64LE(sec, offset);
    buffer.writeBigInt64LE(nsec, offset + 8);
  } else {
    buffer.writeBigInt64BE(sec, offset);
    buffer.writeBigInt64BE(nsec, offset + 8);
  }
}

function seconds(ns: bigint): number {
  return Number(ns / NS_PER_SECOND) + Number(ns % NS_PER_SECOND) / 1e9;
}

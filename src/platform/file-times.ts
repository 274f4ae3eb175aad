import * as fs from "node:fs/promises";
import { endianness } from "node:os";
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, cPath, errnoError, libc } from "./libc.js";

const NS_PER_SECOND = 1_000_000_000n;
const LITTLE_ENDIAN = endianness() === "LE";

/**
 * Sets a file's access and modification times to the nanosecond, without following a symlink.
 * Through utimensat when the C library is reachable (about 3 µs a file); otherwise through
 * fs.lutimes, which carries the times as a double and keeps only whole microseconds.
 */
export async function setFileTimes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
  const c = libc();
  if (!c) {
    await fs.lutimes(path, seconds(atimeNs), seconds(mtimeNs));
    return;
  }
  const times = Buffer.alloc(32);
  writeTimespec(times, 0, atimeNs);
  writeTimespec(times, 16, mtimeNs);
  if (c.utimensat(AT_FDCWD, cPath(path), times, AT_SYMLINK_NOFOLLOW) !== 0) throw errnoError("utimensat", path);
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

import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";

type Koffi = typeof import("koffi");

/**
 * The few C library calls Node has no API for: nanosecond timestamps (utimensat; fs.utimes
 * goes through a double and libuv rounds to microseconds), extended attributes, and mknod.
 * Every path is raw bytes, so names that are not valid UTF-8 work too. Linux on 64-bit CPUs
 * only (the timespec layout is two 64-bit integers there); elsewhere `libc()` is undefined
 * and callers fall back to what Node offers.
 */
export interface Libc {
  utimensat(dirfd: number, path: Buffer, times: Buffer, flags: number): number;
  futimens(fd: number, times: Buffer): number;
  llistxattr(path: Buffer, list: Buffer | null, size: number): number;
  lgetxattr(path: Buffer, name: string, value: Buffer | null, size: number): number;
  lsetxattr(path: Buffer, name: string, value: Uint8Array, size: number, flags: number): number;
  mknod(path: Buffer, mode: number, dev: bigint): number;
}

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;

let loaded: Libc | null | undefined;
let koffi: Koffi | undefined;

export function libc(): Libc | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): Libc | null {
  if (process.platform !== "linux" || !["x64", "arm64", "ppc64", "s390x", "riscv64", "loong64"].includes(process.arch)) return null;
  try {
    // Loaded on first use: it costs a tenth of a second, which commands that never set a
    // timestamp or read an xattr should not pay.
    koffi = createRequire(import.meta.url)("koffi") as Koffi;
    const lib = koffi.load("libc.so.6");
    return {
      utimensat: lib.func("int utimensat(int dirfd, const void *path, const void *times, int flags)") as Libc["utimensat"],
      futimens: lib.func("int futimens(int fd, const void *times)") as Libc["futimens"],
      llistxattr: lib.func("intptr_t llistxattr(const void *path, void *list, size_t size)") as Libc["llistxattr"],
      lgetxattr: lib.func("intptr_t lgetxattr(const void *path, const char *name, void *value, size_t size)") as Libc["lgetxattr"],
      lsetxattr: lib.func("int lsetxattr(const void *path, const char *name, const void *value, size_t size, int flags)") as Libc["lsetxattr"],
      mknod: lib.func("int mknod(const void *path, uint32_t mode, uint64_t dev)") as Libc["mknod"],
    };
  } catch {
    return null;
  }
}

/** A C string: the path's bytes and a terminating NUL. */
export function cPath(path: Buffer): Buffer {
  return Buffer.concat([path, Buffer.alloc(1)]);
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/** The error a failed call left in errno, shaped like Node's own (with `code`). */
export function errnoError(call: string, path: Buffer): NodeJS.ErrnoException {
  const errno = koffi!.errno();
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${call} ${path.toString("utf8")}`);
  err.code = code;
  err.errno = errno;
  return err;
}

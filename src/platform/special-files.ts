import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { promisify } from "node:util";
import { cPath, errnoError, libc } from "./libc.js";

const run = promisify(execFile);

export type SpecialType = "fifo" | "chardev" | "blockdev";

/** Linux's dev_t encoding, as the kernel's new_encode_dev / glibc's gnu_dev_major and minor. */
export function deviceMajor(rdev: number): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

export function deviceMinor(rdev: number): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}

/**
 * Creates a FIFO or device node with the given permission bits (the umask still applies; the
 * caller sets the exact mode afterwards). Through mknod(2) with the raw path bytes; without the
 * C library, through the mkfifo and mknod commands, which cannot take names that are not UTF-8.
 */
export async function makeSpecialFile(path: Buffer, type: SpecialType, mode: number, rdev = 0): Promise<void> {
  const c = libc();
  const typeBits = type === "fifo" ? constants.S_IFIFO : type === "chardev" ? constants.S_IFCHR : constants.S_IFBLK;
  if (c) {
    if (c.mknod(cPath(path), typeBits | (mode & 0o7777), type === "fifo" ? 0n : BigInt(rdev)) !== 0) throw errnoError("mknod", path);
    return;
  }
  const file = path.toString("utf8");
  const perms = (mode & 0o777).toString(8);
  if (type === "fifo") await run("mkfifo", ["-m", perms, "--", file]);
  else await run("mknod", ["-m", perms, "--", file, type === "chardev" ? "c" : "b", String(deviceMajor(rdev)), String(deviceMinor(rdev))]);
}

import { constants as fsConstants, openSync } from "node:fs";

/**
 * Read-only; non-blocking so that a FIFO put where a file was lstat'ed a moment ago cannot hang
 * the backup (for regular files the flag changes nothing).
 */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;
/** Keeps the access time where the kernel allows it (owner or root); refused with EPERM otherwise. */
const NOATIME = fsConstants.O_NOATIME ?? 0;

/** Opens a file to be backed up, synchronously, without touching its access time where allowed. */
export function openSyncForReading(path: Uint8Array): number {
  try {
    return openSync(path as Buffer, READ_FLAGS | NOATIME);
  } catch (err) {
    if (NOATIME === 0 || (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    return openSync(path as Buffer, READ_FLAGS);
  }
}

import { closeSync, constants as fsConstants, openSync, readSync } from "node:fs";
import { UsageError } from "../errors.js";

/**
 * A file whose presence leaves the directory holding it out of a backup: `--exclude-if-present
 * NAME[:HEADER]`, as in restic. With a header, the file counts only if it begins with it.
 */
export interface ExclusionMarker {
  name: Buffer;
  header?: Buffer;
}

/** `--exclude-caches`: the Cache Directory Tagging Specification's tag (https://bford.info/cachedir/). */
export const CACHE_DIRECTORY_TAG = "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55";

/** Reads `NAME[:HEADER]`; the name is everything before the first colon. */
export function parseExclusionMarker(spec: string): ExclusionMarker {
  const colon = spec.indexOf(":");
  const name = colon < 0 ? spec : spec.slice(0, colon);
  if (name === "" || name.includes("/") || name === "." || name === "..") throw new UsageError(`--exclude-if-present: ${JSON.stringify(spec)} does not start with a file name`);
  const header = colon < 0 ? "" : spec.slice(colon + 1);
  return header === "" ? { name: Buffer.from(name) } : { name: Buffer.from(name), header: Buffer.from(header) };
}

const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/**
 * Whether the directory at `dir`, whose entries are `names`, holds one of the markers. A marker
 * with a header that cannot be read, or begins otherwise, does not count: the directory is kept.
 */
export function holdsExclusionMarker(dir: Buffer, names: readonly Buffer[], markers: readonly ExclusionMarker[]): boolean {
  return markers.some((marker) => names.some((name) => name.equals(marker.name)) && (marker.header === undefined || beginsWith(Buffer.concat([dir, Buffer.from("/"), marker.name]), marker.header)));
}

function beginsWith(path: Buffer, header: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(header.length);
    let got = 0;
    while (got < head.length) {
      const n = readSync(fd, head, got, head.length - got, got);
      if (n === 0) return false;
      got += n;
    }
    return head.equals(header);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

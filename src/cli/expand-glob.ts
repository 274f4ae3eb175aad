import { lstat, readdir, stat } from "node:fs/promises";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import { checkGlobPattern, globMatch } from "./glob-match.js";

/** Go's limit on the directory levels of a pattern (pathSeparatorsLimit). */
const MAX_LEVELS = 10_000;

/** Go's hasMeta on Unix: `*`, `?`, `[` or `\` make a path a pattern. */
function hasMeta(bytes: Buffer): boolean {
  return bytes.some((b) => b === 0x2a || b === 0x3f || b === 0x5b || b === 0x5c);
}

/**
 * The paths matching `pattern` as restic expands a --files-from line, with Go's filepath.Glob:
 * every level of the pattern is checked first (a malformed one is a UsageError); a pattern
 * without metacharacters stands for itself when lstat finds it; otherwise its last part is
 * matched (globMatch) against the names in each directory the rest expands to, directories
 * being followed through symlinks and any entry (a symlink, a dangling one too) matching.
 * Paths are bytes, as the file system has them.
 */
export async function expandGlob(pattern: Buffer): Promise<Buffer[]> {
  // The levels above the last, outermost last; then matched innermost first.
  const parts: Buffer[] = [];
  let current = pattern;
  let found: Buffer[];
  for (;;) {
    checkGlobPattern(current, pattern);
    if (parts.length === MAX_LEVELS) throw new UsageError(`--files-from: ${JSON.stringify(pattern.toString("utf8"))} has more than ${MAX_LEVELS} levels`);
    if (!hasMeta(current)) {
      found = (await exists(current)) ? [current] : [];
      break;
    }
    const slash = current.lastIndexOf(0x2f);
    const dir = cleanDir(current.subarray(0, slash + 1));
    parts.push(current.subarray(slash + 1));
    if (!hasMeta(dir)) {
      found = [dir];
      break;
    }
    current = dir;
  }
  for (const part of parts.reverse()) {
    const next: Buffer[] = [];
    for (const dir of found) next.push(...(await matchIn(dir, part)));
    found = next;
  }
  return found;
}

/** Go's cleanGlobPath: no directory is the current one, and a trailing slash goes (but not the root's). */
function cleanDir(dir: Buffer): Buffer {
  if (dir.length === 0) return Buffer.from(".");
  if (dir.length === 1) return dir;
  return dir.subarray(0, -1);
}

/** The entries of `dir` whose names match `part`, in byte order, joined (and cleaned) as Go's Join does. */
async function matchIn(dir: Buffer, part: Buffer): Promise<Buffer[]> {
  if (!(await isDirectory(dir))) return [];
  let names: Buffer[];
  try {
    names = await readdir(dir, { encoding: "buffer" });
  } catch {
    return [];
  }
  // latin1 carries every byte through path.join, which only looks at `/` and `.`.
  const base = dir.toString("latin1");
  return names
    .filter((name) => globMatch(part, name))
    .sort(Buffer.compare)
    .map((name) => Buffer.from(path.posix.join(base, name.toString("latin1")), "latin1"));
}

async function isDirectory(dir: Buffer): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** As Go's Glob: any lstat failure (not there, a symlink loop, a name too long, no permission) means no match. */
async function exists(p: Buffer): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

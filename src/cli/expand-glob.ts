import { lstat, readdir, stat } from "node:fs/promises";
import * as path from "node:path";
import { checkGlobPattern, globMatch } from "./glob-match.js";

/** Characters that make a path a pattern (Go's hasMeta on Unix). */
const META = /[*?[\\]/;

/**
 * The paths matching `pattern` as restic expands a --files-from line, with Go's filepath.Glob:
 * the pattern is checked whole first (a malformed one is a UsageError); one without
 * metacharacters stands for itself when something is there; otherwise the last part is
 * matched (globMatch) against the names in each directory the rest expands to, directories
 * being followed through symlinks and any entry (a symlink, a dangling one too) matching.
 * `onSkipped` hears of a matching name that is not UTF-8, which paths here cannot carry.
 */
export async function expandGlob(pattern: string, onSkipped: (path: string) => void = () => undefined): Promise<string[]> {
  checkGlobPattern(pattern);
  if (!META.test(pattern)) return (await exists(pattern)) ? [pattern] : [];
  const slash = pattern.lastIndexOf("/");
  const dir = cleanDir(pattern.slice(0, slash + 1));
  const last = pattern.slice(slash + 1);
  const dirs = META.test(dir) ? await expandGlob(dir, onSkipped) : [dir];
  const matches: string[] = [];
  for (const base of dirs) matches.push(...(await matchIn(base, last, onSkipped)));
  return matches;
}

/** Go's cleanGlobPath: no directory is the current one, and a trailing slash goes (but not the root's). */
function cleanDir(dir: string): string {
  if (dir === "") return ".";
  if (dir === "/") return dir;
  return dir.slice(0, -1);
}

async function matchIn(dir: string, name: string, onSkipped: (path: string) => void): Promise<string[]> {
  if (!(await isDirectory(dir))) return [];
  let entries: Buffer[];
  try {
    entries = await readdir(dir, { encoding: "buffer" });
  } catch {
    return [];
  }
  const matches: string[] = [];
  for (const raw of entries) {
    const entry = raw.toString("utf8");
    if (!globMatch(name, entry)) continue;
    if (!Buffer.from(entry, "utf8").equals(raw)) onSkipped(path.join(dir, entry));
    else matches.push(path.join(dir, entry));
  }
  return matches.sort();
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Anything but "not there" is left for the backup's own check of the path to report. */
async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== "ENOENT" && code !== "ENOTDIR";
  }
}

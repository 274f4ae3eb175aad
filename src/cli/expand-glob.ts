import { lstat, readdir, stat } from "node:fs/promises";
import * as path from "node:path";
import picomatch from "picomatch";

/** The characters that make a path component a pattern, as Go's filepath.Glob reads them. */
const META = /[*?[\\]/;

/**
 * The paths matching `pattern` as restic expands a --files-from line (Go's filepath.Glob):
 * component by component, `*` and `?` within one name (dot files included), `[…]` classes,
 * `\` escapes; directories on the way are followed through symlinks, and the last component
 * matches any entry (a symlink, a dangling one too). A pattern without metacharacters stands
 * for itself when something is there. Sorted, as the pattern reads: relative or absolute.
 */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!META.test(pattern)) return (await exists(pattern)) ? [pattern] : [];
  const dir = path.dirname(pattern);
  const last = path.basename(pattern);
  const dirs = META.test(dir) ? await expandGlob(dir) : [dir];
  const matches: string[] = [];
  for (const base of dirs) matches.push(...(await matchIn(base, last)));
  return matches;
}

async function matchIn(dir: string, name: string): Promise<string[]> {
  if (!(await isDirectory(dir))) return [];
  if (!META.test(name)) return (await exists(path.join(dir, name))) ? [path.join(dir, name)] : [];
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const isMatch = picomatch(name, { dot: true, noextglob: true, nobrace: true, noglobstar: true });
  return entries
    .filter((entry) => isMatch(entry))
    .sort()
    .map((entry) => path.join(dir, entry));
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

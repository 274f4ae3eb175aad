import { readdir, lstat } from "node:fs/promises";
import { join } from "node:path";

/** Bytes of all regular files below `dir`, leaving out directories named in `skip` (caches). */
export async function diskUsage(dir: string, skip: readonly string[] = []): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (skip.includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(path, skip);
    else if (entry.isFile()) total += (await lstat(path)).size;
  }
  return total;
}

import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import { prune, type PruneOptions } from "../../src/prune/prune.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import type { TestRepository } from "./repo-fixture.js";

/** Every file below `dir`, as paths relative to it, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

export interface KilledPrune {
  /** The copy the prune ran on, whole. */
  copy: string;
  originalFiles: Set<string>;
  copyFiles: Set<string>;
  /** The files prune wrote (new packs, index files), now also in the original. */
  carried: string[];
}

/**
 * Runs prune on a copy of `f`'s repository (which it closes; `f.reopen()` opens it again), then
 * puts what prune wrote into the original, as a prune killed just before its deletions would
 * have left it.
 */
export async function leftByKilledPrune(f: TestRepository, options: PruneOptions): Promise<KilledPrune> {
  await f.close();
  const copy = join(f.work, "copy");
  await fs.cp(f.repoPath, copy, { recursive: true });
  await fs.rm(join(copy, "index.db"), { recursive: true });
  const other = await openLocalRepository(copy);
  await prune(other, options);
  await other.close();
  const originalFiles = new Set(await listFiles(f.repoPath));
  const copyFiles = new Set(await listFiles(copy));
  const carried: string[] = [];
  for (const file of copyFiles) {
    if (originalFiles.has(file) || file.startsWith("index.db") || file.startsWith("locks")) continue;
    await fs.mkdir(join(f.repoPath, file, ".."), { recursive: true });
    await fs.copyFile(join(copy, file), join(f.repoPath, file));
    carried.push(file);
  }
  return { copy, originalFiles, copyFiles, carried };
}

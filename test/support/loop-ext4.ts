import { execFileSync } from "node:child_process";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { tempDir } from "./cli.js";

/** A loop-mounted ext4 and a repository beside it, in a temporary directory. */
export interface Ext4Repository {
  /** Where the file system is mounted. */
  mnt: string;
  repo: Repository;
  /** Closes the repository, unmounts and removes everything. */
  cleanup: () => Promise<void>;
}

/**
 * A fresh ext4 file system in an image file, loop-mounted, and an open repository outside it:
 * for what only a real file system shows (whole-second times with `-I 128`, inode numbers
 * handed out again). Mounting needs root.
 */
export async function ext4Repository(prefix: string, options: { mib: number; mkfsArgs?: string[] }): Promise<Ext4Repository> {
  const work = await tempDir(prefix);
  const image = join(work.path, "ext4.img");
  const mnt = join(work.path, "mnt");
  mkdirSync(mnt);
  writeFileSync(image, "");
  truncateSync(image, options.mib * 1024 * 1024);
  execFileSync("mkfs.ext4", ["-q", "-F", ...(options.mkfsArgs ?? []), image], { stdio: "ignore" });
  execFileSync("mount", ["-o", "loop", image, mnt]);
  await initLocalRepository(join(work.path, "repo"));
  const repo = await openLocalRepository(join(work.path, "repo"));
  return {
    mnt,
    repo,
    cleanup: async () => {
      await repo.close();
      execFileSync("umount", [mnt]);
      await work.cleanup();
    },
  };
}

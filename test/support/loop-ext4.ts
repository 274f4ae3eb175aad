import { execFileSync } from "node:child_process";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LoopMount {
  path: string;
  unmount: () => void;
}

/**
 * A fresh ext4 file system in an image file under `dir`, loop-mounted at `dir/mnt`: for what
 * only a real file system shows (whole-second times with `-I 128`, inode numbers handed out
 * again). Mounting needs root.
 */
export function mountExt4(dir: string, options: { mib: number; mkfsArgs?: string[] }): LoopMount {
  const image = join(dir, "ext4.img");
  const path = join(dir, "mnt");
  mkdirSync(path, { recursive: true });
  writeFileSync(image, "");
  truncateSync(image, options.mib * 1024 * 1024);
  execFileSync("mkfs.ext4", ["-q", "-F", ...(options.mkfsArgs ?? []), image], { stdio: "ignore" });
  execFileSync("mount", ["-o", "loop", image, path]);
  return { path, unmount: () => execFileSync("umount", [path]) };
}

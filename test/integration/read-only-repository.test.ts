// A repository on read-only storage (a write-protected disk, a read-only mount, a file system
// the kernel remounted read-only after errors): it cannot be locked, but with --no-lock it can
// still be listed, checked and restored from, its index database kept in the user's cache.
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let mounted: string;
let source: string;
const env = (): NodeJS.ProcessEnv => ({ XDG_CACHE_HOME: join(work.path, "cache") });
const cairn = (...args: string[]) => runCairn(["-r", mounted, ...args], { env: env() });

beforeAll(async () => {
  work = await tempDir("cairn-readonly-");
  const repo = join(work.path, "repo");
  source = join(work.path, "src");
  mounted = join(work.path, "mnt");
  await mkdir(source);
  await mkdir(mounted);
  await writeFile(join(source, "kept.txt"), "what the backup holds\n");
  expect((await runCairn(["-r", repo, "init"])).code).toBe(0);
  expect((await runCairn(["-r", repo, "backup", source])).code).toBe(0);
  // A read-only view of the repository: root writes through permissions, not through this.
  execFileSync("mount", ["--bind", repo, mounted]);
  execFileSync("mount", ["-o", "remount,bind,ro", mounted]);
});

afterAll(async () => {
  if (mounted) execFileSync("umount", [mounted]);
  await work?.cleanup();
});

describe("a repository on read-only storage", () => {
  it("cannot be locked, and the message says how to read it anyway", async () => {
    const result = await cairn("ls", "latest");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^cairn: write .*\/locks\/[0-9a-f]+: read-only file system: to read a repository on read-only storage, pass --no-lock$/m);
  });

  it("is listed, checked with a full read and restored from with --no-lock", async () => {
    const listing = await cairn("--no-lock", "ls", "latest");
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout).toContain(`${source}/kept.txt`);
    const check = await cairn("--no-lock", "check", "--read-data");
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain("no errors found");
    const target = join(work.path, "restored");
    const restore = await cairn("--no-lock", "restore", "latest", "--target", target);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await readFile(join(target, source, "kept.txt"), "utf8")).toBe("what the backup holds\n");
  });

  it("--no-lock is refused for a command that would change the repository, not for a dry run", async () => {
    for (const args of [["backup", source], ["unlock"], ["forget", "--keep-last", "1"]]) {
      const refused = await cairn("--no-lock", ...args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(refused.stderr).toMatch(/--no-lock is only for commands that read the repository/);
    }
    const preview = await cairn("--no-lock", "forget", "--keep-last", "1", "--prune", "--dry-run");
    expect(preview.code, preview.stderr).toBe(0);
  });
});

// A repository on a 20 MB tmpfs, filled by a 40 MB backup: the backup fails with a clear
// message and no snapshot; on a disk with no room at all the next one fails with one line too;
// once there is room again the repository checks and the next backup reuses what the failed
// one stored. A restore into a full file system fails with one
// clear line too. Mounting needs root.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { findingsOf, listFiles, parseJsonLines, readTree, seededBytes } from "./damage-fixtures.js";

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
let work: { path: string; cleanup: () => Promise<void> };
let mnt: string;
let repo: string;
let src: string;
let mounted = false;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

/** One `cairn: …` line on stderr and nothing like a stack trace. */
function expectCleanFailure(result: { code: number; stderr: string }): void {
  expect(result.code).toBe(1);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at |Node\.js v/);
  expect(result.stderr).toMatch(/^cairn: .*no space left on device/im);
}

beforeAll(async () => {
  work = await tempDir("cairn-full-disk-");
  mnt = join(work.path, "mnt");
  repo = join(mnt, "repo");
  src = join(work.path, "src");
  await fs.mkdir(mnt);
  await fs.mkdir(src);
  for (let i = 0; i < 10; i++) await fs.writeFile(join(src, `f${i}.bin`), seededBytes(4 * MiB, `full-${i}`));
  if (!isRoot) return;
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=20m", "tmpfs", mnt]);
  mounted = true;
});

afterAll(async () => {
  if (mounted) execFileSync("umount", [mnt]);
  await work?.cleanup();
});

describe.skipIf(!isRoot)("a full disk (tmpfs, needs root)", () => {
  it("fails the backup cleanly with no snapshot; the repository checks; the next backup reuses what was stored", async () => {
    expect((await cairn("init", "--pack-size", "1M")).code).toBe(0);
    const backup = await cairn("backup", src);
    expectCleanFailure(backup);
    expect(await fs.readdir(join(repo, "snapshots")).catch(() => [])).toEqual([]);
    const storedBeforeFailure = (await listFiles(join(repo, "data"))).reduce((sum, f) => sum + f.size, 0);
    expect(storedBeforeFailure).toBeGreaterThan(8 * MiB);

    // Almost no room at all: even opening the index database fails, and says why.
    const avail = Number(execFileSync("df", ["--output=avail", "-B1", mnt]).toString().split("\n")[1]);
    await fs.writeFile(join(mnt, "filler"), Buffer.alloc(Math.max(0, avail - 4096)));
    expectCleanFailure(await cairn("backup", src));
    await fs.rm(join(mnt, "filler"));

    // With room again (opening the index database writes to it), the repository the failed
    // backups left checks: their complete packs are only unindexed, nothing is half-written.
    execFileSync("mount", ["-o", "remount,size=80m", mnt]);
    const check = await cairn("--json", "check", "--read-data");
    expect(check.code, check.stderr).toBe(0);
    expect(findingsOf(check.stdout).every((f) => f.kind === "pack-unindexed")).toBe(true);

    // Packs the failed backup indexed, and those it left unindexed (adopted now), are reused.
    const again = await cairn("--json", "backup", src);
    expect(again.code, again.stderr).toBe(0);
    const summary = parseJsonLines(again.stdout).find((m) => m.message_type === "summary")!;
    expect(summary.data_added as number).toBeLessThan(40 * MiB - storedBeforeFailure + 2 * MiB);
    const after = await cairn("check", "--read-data");
    expect(after.code, after.stdout).toBe(0);
    expect(after.stdout).toContain("no errors found");
    const target = join(work.path, "restore");
    expect((await cairn("restore", "latest", "--target", target)).code).toBe(0);
    const restored = await readTree(join(target, src));
    for (const [path, bytes] of await readTree(src)) expect(restored.get(path)!.equals(bytes), path).toBe(true);
  });

  it("fails a restore into a full file system with one line that names the file", async () => {
    const otherRepo = join(work.path, "repo-for-restore");
    const target = join(work.path, "small-target");
    await fs.mkdir(target);
    expect((await runCairn(["-r", otherRepo, "init"])).code).toBe(0);
    expect((await runCairn(["-r", otherRepo, "backup", src])).code).toBe(0);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", target]);
    try {
      const result = await runCairn(["-r", otherRepo, "restore", "latest", "--target", target]);
      expectCleanFailure(result);
      expect(result.stderr).toMatch(new RegExp(`^cairn: cannot write ${target}/.*\\.bin: no space left on device$`, "m"));
    } finally {
      execFileSync("umount", [target]);
    }
  });
});

// `cairn backup` as a user runs it: output, --json, --quiet, --dry-run and every exit code.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { RepositoryLock } from "../../src/store/lock/repository-lock.js";
import { CAIRN_BIN, runCairn, tempDir, type CliResult } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let repo: string;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);
const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
const snapshotCount = async (dir = repo) => (await fs.readdir(join(dir, "snapshots")).catch(() => [])).length;

/** Runs cairn on `dir` and sends it SIGINT once `bytes` of packs are written (or after 15 s). */
async function interruptOncePacked(dir: string, bytes: number, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", dir, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for (let i = 0; i < 300 && (await packedBytes(dir)) < bytes; i++) await new Promise((r) => setTimeout(r, 50));
  child.kill("SIGINT");
  return { code: await exited, stderr };
}

/** Bytes of the finished packs in a repository (packs are written under a temporary name and renamed). */
async function packedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(join(dir, "data"), { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile() && !entry.name.startsWith(".tmp")) total += (await fs.stat(join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Runs the CLI as root without the capabilities that let root read every file. */
function runWithoutDacOverride(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", ["--bounding-set=-dac_override,-dac_read_search", "--", process.execPath, CAIRN_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  work = await tempDir("cairn-backup-cli-");
  src = join(work.path, "src");
  repo = join(work.path, "repo");
  await fs.mkdir(join(src, "sub"), { recursive: true });
  await fs.writeFile(join(src, "a.txt"), "alpha\n");
  await fs.writeFile(join(src, "sub", "b.txt"), "beta\n");
  expect((await runCairn(["-r", repo, "init", "--pack-size", "1M"])).code).toBe(0);
});

afterAll(async () => {
  await work?.cleanup();
});

describe("cairn backup", () => {
  it("backs up, reports the summary and exits 0; the next run finds nothing changed", async () => {
    const first = await cairn("backup", src);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("Files:       2 new, 0 changed, 0 unmodified");
    expect(first.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);
    const second = await cairn("backup", src);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Files:       0 new, 0 changed, 2 unmodified");
    expect(second.stderr).toMatch(/using parent snapshot [0-9a-f]{8}/);
  });

  it("--json prints one JSON object per line, ending with the summary", async () => {
    const result = await cairn("--json", "backup", src);
    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({ message_type: "summary", files_unmodified: 2, files_read: 0, warnings: 0 });
    expect(summary.snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    for (const line of lines.slice(0, -1)) expect(line.message_type).toBe("status");
  });

  it("--quiet prints nothing when all goes well", async () => {
    await fs.writeFile(join(src, "c.txt"), "gamma\n");
    const result = await cairn("--quiet", "backup", src);
    expect(result).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  it("--dry-run reports what would be added and writes nothing", async () => {
    await fs.writeFile(join(src, "new.bin"), randomBytes(200_000));
    const before = await snapshotCount();
    const packsBefore = await fs.readdir(join(repo, "data"), { recursive: true });
    const result = await cairn("--json", "backup", "--dry-run", src);
    expect(result.code).toBe(0);
    const summary = jsonLines(result.stdout).pop()!;
    expect(summary).toMatchObject({ message_type: "summary", dry_run: true, files_new: 1 });
    expect(summary.data_added as number).toBeGreaterThanOrEqual(200_000);
    expect(await snapshotCount()).toBe(before);
    expect(await fs.readdir(join(repo, "data"), { recursive: true })).toEqual(packsBefore);
    const text = await cairn("backup", "-n", src);
    expect(text.stdout).toContain("Would add to the repository:");
    expect(text.stdout).toContain("dry run: nothing was written");
  });

  it("takes excludes from the command line and from files", async () => {
    const excludeFile = join(work.path, "excludes");
    await fs.writeFile(excludeFile, "# no binaries\n*.bin\n");
    const result = await cairn("--json", "backup", "--exclude", "sub/", "--exclude-file", excludeFile, "--exclude-larger-than", "1K", src);
    expect(result.code).toBe(0);
    const listing = (await cairn("ls", "latest")).stdout;
    expect(listing).toContain("a.txt");
    expect(listing).not.toContain("b.txt");
    expect(listing).not.toContain("new.bin");
  });
});

describe("exit codes", () => {
  it("3: a file or directory it cannot read is reported, the snapshot is still written", async () => {
    const locked = join(src, "locked.txt");
    const lockedDir = join(src, "locked-dir");
    await fs.writeFile(locked, "no one may read this");
    await fs.chmod(locked, 0o000);
    await fs.mkdir(lockedDir);
    await fs.chmod(lockedDir, 0o000);
    try {
      const before = await snapshotCount();
      const result = await runWithoutDacOverride(["-r", repo, "--json", "backup", src]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`warning: ${locked}: cannot open: EACCES`);
      expect(result.stderr).toContain(`warning: ${lockedDir}: cannot read directory: EACCES`);
      expect(result.stderr).toMatch(/snapshot [0-9a-f]{8} is incomplete: 2 item\(s\) could not be read/);
      const lines = jsonLines(result.stdout);
      expect(lines).toContainEqual({ message_type: "error", item: locked, error: "cannot open: EACCES" });
      expect(lines.pop()).toMatchObject({ message_type: "summary", warnings: 2 });
      expect(await snapshotCount()).toBe(before + 1);
    } finally {
      await fs.rm(locked);
      await fs.rmdir(lockedDir);
    }
  });

  it("3: a file that grows while it is read is reported as changed, and its snapshot is written", async () => {
    const dir = join(work.path, "growing");
    await fs.mkdir(dir);
    const log = join(dir, "app.log");
    // Large enough that reading it takes a while; a writer appends every few milliseconds meanwhile.
    await fs.writeFile(log, randomBytes(64 * 1024 * 1024));
    const writer = spawn("sh", ["-c", `while :; do echo line >> '${log}'; sleep 0.002; done`], { stdio: "ignore" });
    try {
      const before = await snapshotCount();
      const result = await cairn("backup", dir);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain(`warning: ${log}: file changed while it was read`);
      expect(await snapshotCount()).toBe(before + 1);
    } finally {
      writer.kill("SIGKILL");
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("1: a path that does not exist fails before anything is written", async () => {
    const result = await cairn("backup", join(work.path, "missing"));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`cairn: ${join(work.path, "missing")}: no such file or directory\n`);
  });

  it("2: contradictory arguments", async () => {
    const result = await cairn("backup", "--stdin", src);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--stdin takes no paths");
  });

  it("10: no repository there", async () => {
    const result = await runCairn(["-r", join(work.path, "nowhere"), "backup", src]);
    expect(result.code).toBe(10);
    expect(result.stderr).toMatch(/^cairn: .*not a cairn repository/);
  });

  it("11: the repository is locked exclusively by someone else", async () => {
    const lock = await RepositoryLock.acquire(new LocalBackend(repo), { exclusive: true, waitMs: 0 });
    try {
      const result = await cairn("backup", src);
      expect(result.code).toBe(11);
      expect(result.stderr).toMatch(/^cairn: .*lock/);
    } finally {
      await lock.release();
    }
  });

  it("130: SIGINT stops the backup, writes no snapshot, and keeps the packs for the next run", async () => {
    const sigRepo = join(work.path, "sigint-repo");
    expect((await runCairn(["-r", sigRepo, "init", "--pack-size", "1M"])).code).toBe(0);
    const big = join(work.path, "big.bin");
    await fs.writeFile(big, randomBytes(24 * 1024 * 1024));
    // Interrupted once most of the file has been packed and written (the chunker holds back up to
    // one 2 MiB window until it sees more data or the end).
    const { code, stderr } = await interruptOncePacked(sigRepo, 14 * 1024 * 1024, ["backup", "--stdin-from-command", "--", "sh", "-c", `cat '${big}'; exec sleep 60`]);
    expect(code).toBe(130);
    expect(stderr).toContain("cairn: interrupted");
    expect(await snapshotCount(sigRepo)).toBe(0);
    expect((await fs.readdir(join(sigRepo, "index"))).length).toBeGreaterThan(0);

    const again = await runCairn(["-r", sigRepo, "--json", "backup", "--stdin-from-command", "--", "cat", big]);
    expect(again.code).toBe(0);
    const summary = jsonLines(again.stdout).pop()!;
    // Most of the file was already stored by the interrupted run.
    expect(summary.data_added as number).toBeLessThan(12 * 1024 * 1024);
  }, 60_000);

  it("130: SIGINT while a large file is read stops the reading there, not at the end of the file", async () => {
    const sigRepo = join(work.path, "sigint-file-repo");
    expect((await runCairn(["-r", sigRepo, "init", "--pack-size", "1M"])).code).toBe(0);
    const src = join(work.path, "sigint-src");
    await fs.mkdir(src);
    const size = 160 * 1024 * 1024;
    await fs.writeFile(join(src, "big.bin"), randomBytes(size));
    const { code, stderr } = await interruptOncePacked(sigRepo, 8 * 1024 * 1024, ["backup", src]);
    expect(code).toBe(130);
    expect(stderr).toContain("cairn: interrupted");
    expect(await snapshotCount(sigRepo)).toBe(0);
    // The file's chunks are stored as they are read: far from all of them were.
    expect(await packedBytes(sigRepo)).toBeLessThan(size / 2);
  }, 60_000);
});

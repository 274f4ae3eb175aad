// Bad input through the real CLI: every mistake is one line `cairn: …` with exit code 2 and
// leaves the repository as it was; what is accepted is stored as the user meant it.
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { expectOk, expectOneLineError, expectUsageError } from "../support/cli-expect.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let repo: string;
/** Keeps the user's own repository and home out of every run. */
let env: NodeJS.ProcessEnv;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args], { env, cwd: src });

beforeAll(async () => {
  work = await tempDir("cairn-cli-input-");
  src = join(work.path, "src");
  repo = join(work.path, "repo");
  await fs.mkdir(src);
  await fs.writeFile(join(src, "small.txt"), "small\n");
  await fs.writeFile(join(src, "big.bin"), Buffer.alloc(2 * 1024 * 1024, 7));
  env = { HOME: join(work.path, "home"), XDG_DATA_HOME: join(work.path, "xdg"), CAIRN_REPOSITORY: undefined, CAIRN_PASSWORD: "x" };
  expectOk(await cairn("init"));
  expectOk(await cairn("backup", src));
});
/** The documents under locks/ of the repository. */
async function locks(): Promise<{ command: string }[]> {
  const names = await fs.readdir(join(repo, "locks"));
  return Promise.all(names.map(async (name) => JSON.parse(await fs.readFile(join(repo, "locks", name), "utf8")) as { command: string }));
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function snapshotCount(): Promise<number> {
  return (await fs.readdir(join(repo, "snapshots"))).length;
}

interface ListedSnapshot {
  id: string;
  hostname: string;
  tags: string[];
  paths: string[];
}

async function snapshots(...filters: string[]): Promise<ListedSnapshot[]> {
  return JSON.parse(expectOk(await cairn("--json", "snapshots", ...filters)).stdout) as ListedSnapshot[];
}

afterAll(async () => {
  await work.cleanup();
});

describe("subcommand parse errors", () => {
  it.each([
    [["snapshots", "--bogus"], /^cairn: unknown option '--bogus'$/],
    [["restore"], /^cairn: missing required argument 'snapshot'$/],
    [["forget", "--keep-daily"], /^cairn: option '-d, --keep-daily <n>' argument missing$/],
    [["unlock", "extra"], /^cairn: too many arguments for 'unlock'/],
    [["repair"], /^cairn: repair: missing subcommand \(one of: index, snapshots\)$/],
    [["repair", "bogus"], /^cairn: repair: unknown subcommand 'bogus'/],
    [["repair", "index", "--bogus"], /^cairn: unknown option '--bogus'$/],
  ])("%j is one line and exit code 2", async (args, message) => {
    expectUsageError(await cairn(...args), message);
  });

  it("--help and --version of subcommands still exit 0", async () => {
    expect(expectOk(await cairn("snapshots", "--help")).stdout).toMatch(/^Usage: cairn snapshots/);
    expect(expectOk(await cairn("repair", "--help")).stdout).toMatch(/index/);
    expect(expectOk(await cairn("repair", "help", "index")).stdout).toMatch(/^Usage: cairn repair index/);
    expect(expectOk(await cairn("--version")).stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("sizes", () => {
  it("--exclude-larger-than takes a number and a unit, nothing after them", async () => {
    const before = await snapshotCount();
    expectUsageError(await cairn("backup", src, "--exclude-larger-than", "1Mo"), /^cairn: --exclude-larger-than: invalid size "1Mo"/);
    expect(await snapshotCount()).toBe(before);
    const backup = expectOk(await cairn("--json", "backup", src, "--exclude-larger-than", "1M"));
    const summary = JSON.parse(backup.stdout.trim().split("\n").at(-1)!) as { total_files_processed: number };
    expect(summary.total_files_processed).toBe(1); // small.txt; big.bin (2 MiB) left out
  });

  it.each([
    [["check", "--read-data-subset", "5pct"], /^cairn: --read-data-subset "5pct": expected N\/M, P% or a size/],
    [["check", "--read-data-subset", "1.5/7"], /^cairn: --read-data-subset "1.5\/7": expected N\/M, P% or a size/],
    [["prune", "--dry-run", "--max-repack-size", "3Gx"], /^cairn: --max-repack-size: invalid size "3Gx"/],
    [["prune", "--dry-run", "--max-unused", "5pc"], /^cairn: --max-unused: invalid size "5pc"/],
  ])("%j is refused", async (args, message) => {
    expectUsageError(await cairn(...args), message);
  });

  it("init --pack-size 16Mo creates nothing", async () => {
    const other = join(work.path, "not-created");
    expectUsageError(await runCairn(["-r", other, "init", "--pack-size", "16Mo"], { env }), /^cairn: --pack-size: invalid size "16Mo"/);
    await expect(fs.stat(other)).rejects.toThrow(/ENOENT/);
  });
});

describe("refusals that change nothing", () => {
  it("init refuses bad settings before creating a directory, and an existing repository without touching its mode", async () => {
    const deep = join(work.path, "deep", "repo");
    expectUsageError(await runCairn(["-r", deep, "init", "--pack-size", "0"], { env }), /^cairn: pack size must be between/);
    await expect(fs.stat(join(work.path, "deep"))).rejects.toThrow(/ENOENT/);
    const shared = join(work.path, "shared-dir");
    await fs.mkdir(shared, { mode: 0o750 });
    await fs.chmod(shared, 0o750);
    expectOk(await runCairn(["-r", shared, "init"], { env }));
    expect((await fs.stat(shared)).mode & 0o777).toBe(0o750);
    expectOneLineError(await runCairn(["-r", shared, "init"], { env }), 1, /a repository already exists/);
    expect((await fs.stat(shared)).mode & 0o777).toBe(0o750);
  });

  it("restore of a path the snapshot lacks creates no target", async () => {
    const target = join(work.path, "never-made");
    const result = await cairn("restore", "latest:/no/such/path", "--target", target);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^cairn: \/no\/such\/path: no such file or directory in the snapshot$/m);
    await expect(fs.stat(target)).rejects.toThrow(/ENOENT/);
  });

  it("one path named several ways is recorded once", async () => {
    const backup = expectOk(await cairn("--json", "backup", "small.txt", "./small.txt", join(src, "small.txt")));
    const id = (JSON.parse(backup.stdout.trim().split("\n").at(-1)!) as { snapshot_id: string }).snapshot_id;
    expect((await snapshots()).find((s) => s.id === id)!.paths).toEqual([join(src, "small.txt")]);
  });

  it("ls and dump given restore's SNAPSHOT:PATH say to give the path apart; forget checks prune's values without --prune", async () => {
    expectUsageError(await cairn("ls", `latest:${src}`), /invalid snapshot id ".*"; this command takes a path inside the snapshot as an argument of its own/);
    expectUsageError(await cairn("dump", `latest:${src}`, "/"), /an argument of its own/);
    const before = await snapshotCount();
    expectUsageError(await cairn("forget", "--keep-last", "1", "--max-unused", "abc"), /^cairn: --max-unused/);
    expect(await snapshotCount()).toBe(before);
  });

  it("an empty --repo is refused, not taken for the default repository", async () => {
    expectUsageError(await runCairn(["-r", "", "snapshots"], { env }), /^cairn: --repo: empty path$/);
    await expect(fs.stat(join(work.path, "xdg"))).rejects.toThrow(/ENOENT/);
  });
});

describe("empty and comma-separated values", () => {
  it("an empty path is a usage error, not the current directory", async () => {
    const before = await snapshotCount();
    expectUsageError(await cairn("backup", ""), /^cairn: empty path/);
    expectUsageError(await cairn("backup", src, ""), /^cairn: empty path/);
    expect(await snapshotCount()).toBe(before);
  });

  it("--tag splits on commas and leaves out empty tags; an empty --host means this machine", async () => {
    const backup = expectOk(await cairn("--json", "backup", join(src, "small.txt"), "--tag", "a,b", "--tag", "", "--tag", "c,", "--host", ""));
    const id = (JSON.parse(backup.stdout.trim().split("\n").at(-1)!) as { snapshot_id: string }).snapshot_id;
    const [stored] = (await snapshots()).filter((s) => s.id === id);
    expect(stored).toMatchObject({ hostname: hostname(), tags: ["a", "b", "c"] });
    expect((await snapshots("--tag", "a")).map((s) => s.id)).toEqual([id]);
    expect((await snapshots("--tag", "b,c")).map((s) => s.id)).toEqual([id]);
  });
});

describe("restore into an engine or a database", () => {
  it("refuses the options of a restore into a directory: a --dry-run would restore for real", async () => {
    expectUsageError(await cairn("restore", "latest", "--to-docker", "--dry-run"), /^cairn: --dry-run goes with --target, not with --to-docker$/);
    expectUsageError(await cairn("restore", "latest", "--to-docker", "--include", "x", "--delete"), /^cairn: --include, --delete go with --target, not with --to-docker$/);
    expectUsageError(await cairn("restore", "latest", "--to-postgres", "postgres://localhost/db", "--verify"), /^cairn: --verify goes with --target, not with --to-postgres$/);
    expectUsageError(await cairn("restore", "latest", "--to-docker", "--to-postgres", "postgres://localhost/db"), /^cairn: give one of --target, --to-docker and --to-postgres$/);
  });
});

describe("find", () => {
  it("an empty pattern is a usage error", async () => {
    expectUsageError(await cairn("find", ""), /^cairn: empty pattern/);
    expectUsageError(await cairn("find", "*.txt", ""), /^cairn: empty pattern/);
  });
});

describe("locks", () => {
  it("record the subcommand, wherever the global options are", async () => {
    // backup --stdin holds its lock until its input ends.
    const backup = spawn(process.execPath, [CAIRN_BIN, "--quiet", "backup", "-r", repo, "--stdin", "--json"], { env: { ...process.env, ...env }, stdio: ["pipe", "ignore", "pipe"] });
    const closed = once(backup, "close");
    await until(async () => (await locks()).length > 0);
    expect(await locks()).toEqual([expect.objectContaining({ command: "backup" })]);
    expectOneLineError(await cairn("prune"), 11, /^cairn: repository is locked: shared lock by PID \d+ on .*"cairn backup"/);
    backup.stdin.end("streamed\n");
    expect((await closed)[0]).toBe(0);
    expect(await locks()).toEqual([]);
  });
});

describe("stdout that fails", () => {
  it("closed early (ls | head): the command stops, exits 0 and releases its lock", async () => {
    const many = join(work.path, "many");
    await fs.mkdir(many);
    // Far more than a pipe holds (64 KiB), so ls is still writing when the reader goes away.
    await Promise.all(Array.from({ length: 3000 }, (_, i) => fs.writeFile(join(many, `a-file-with-a-fairly-long-name-${i}.txt`), "")));
    expectOk(await cairn("backup", many, "--tag", "many"));
    const ls = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "ls", "latest", "--tag", "many"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    ls.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    ls.stdout.once("data", () => ls.stdout.destroy());
    const [code] = (await once(ls, "close")) as [number | null];
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(await locks()).toEqual([]);
  });

  it.skipIf(!existsSync("/dev/full"))("full (> /dev/full): one line, exit 1, lock released", async () => {
    const full = await fs.open("/dev/full", "w");
    try {
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "ls", "latest"], { env: { ...process.env, ...env }, stdio: ["ignore", full.fd, "pipe"] });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, "close")) as [number | null];
      expectOneLineError({ code: code ?? -1, stdout: "", stderr }, 1, /^cairn: write standard output: no space left on device$/);
    } finally {
      await full.close();
    }
    expect(await locks()).toEqual([]);
  });
});

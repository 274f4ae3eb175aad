// The first commands a user runs, through the real CLI: init, backup, snapshots, ls, restore,
// the default repository, snapshot selectors, and one clear line for every mistake.
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { loadSnapshot, listSnapshotIds, writeSnapshot } from "../../src/store/snapshot/snapshot-store.js";
import { localTime } from "../../src/platform/local-time.js";
import { runCairn, tempDir, type CliResult } from "../support/cli.js";
import { expectOk, expectOneLineError } from "../support/cli-expect.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let repo: string;
/** Keeps the user's own repository and home out of every run. */
let env: NodeJS.ProcessEnv;

const cairn = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCairn(args, { env: { ...env, ...extraEnv } });

/** Every object in the repository with its content hash; index.db is a derived cache and left out. */
async function listing(dir: string): Promise<string[]> {
  const entries: string[] = [];
  const visit = async (at: string) => {
    for (const entry of await fs.readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (relative(dir, path) === "index.db") continue;
      if (entry.isDirectory()) await visit(path);
      else entries.push(`${relative(dir, path)} ${createHash("sha256").update(await fs.readFile(path)).digest("hex")}`);
    }
  };
  await visit(dir);
  return entries.sort();
}

async function writeSource(dir: string): Promise<void> {
  await fs.mkdir(join(dir, "docs", "empty"), { recursive: true });
  await fs.writeFile(join(dir, "hello.txt"), "hello, cairn\n");
  await fs.writeFile(join(dir, "docs", "report.bin"), Buffer.alloc(300_000, 0x5a));
  await fs.writeFile(join(dir, "docs", "ünïcode name.txt"), "ü\n");
  await fs.symlink("hello.txt", join(dir, "link"));
}

async function expectSameFiles(a: string, b: string): Promise<void> {
  for (const name of ["hello.txt", "docs/report.bin", "docs/ünïcode name.txt"]) {
    expect((await fs.readFile(join(b, name))).equals(await fs.readFile(join(a, name))), name).toBe(true);
  }
  expect(await fs.readlink(join(b, "link"))).toBe("hello.txt");
  expect((await fs.readdir(join(b, "docs", "empty"))).length).toBe(0);
}

beforeAll(async () => {
  work = await tempDir("cairn-cli-basics-");
  src = join(work.path, "src");
  repo = join(work.path, "repo");
  await writeSource(src);
  env = { HOME: join(work.path, "home"), XDG_DATA_HOME: join(work.path, "xdg"), CAIRN_REPOSITORY: undefined };
});
afterAll(async () => {
  await work.cleanup();
});

describe("init, backup, snapshots, ls, restore", () => {
  let first: string;

  it("round-trips a directory", async () => {
    const init = expectOk(await cairn(["-r", repo, "init"]));
    expect(init.stdout).toContain(`created cairn repository at ${repo}`);
    expect(await fs.readdir(repo)).toContain("config");

    const backup = expectOk(await cairn(["-r", repo, "backup", src]));
    expect(backup.stdout).toMatch(/Files: +3 new, 0 changed, 0 unmodified/);
    expect(backup.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);

    const [id] = await listSnapshotIds(new LocalBackend(repo));
    first = id!;
    const human = expectOk(await cairn(["-r", repo, "snapshots"]));
    expect(human.stdout).toContain(first.slice(0, 8));
    expect(human.stdout).toContain(src);
    expect(human.stdout).toMatch(/^1 snapshot$/m);

    const json = expectOk(await cairn(["-r", repo, "--json", "snapshots"]));
    const list = JSON.parse(json.stdout) as { id: string; short_id: string; time: string; paths: string[]; tree: string; summary: { files_new: number } }[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: first, short_id: first.slice(0, 8), paths: [src] });
    expect(list[0]!.summary.files_new).toBe(3);

    const ls = expectOk(await cairn(["-r", repo, "ls", "latest"]));
    const paths = ls.stdout.trim().split("\n");
    expect(paths[0]).toBe(`snapshot ${first.slice(0, 8)} of [${src}] at ${localTime(list[0]!.time)}:`);
    for (const p of ["hello.txt", "link", "docs", "docs/empty", "docs/report.bin", "docs/ünïcode name.txt"]) expect(paths).toContain(`${src}/${p}`);

    const target = join(work.path, "restored");
    const restore = expectOk(await cairn(["-r", repo, "restore", "latest", "--target", target]));
    expect(restore.stdout).toMatch(/restored 3 files/);
    await expectSameFiles(src, join(target, src));
  });

  it("prints JSON that parses, from every command", async () => {
    const backup = expectOk(await cairn(["-r", repo, "--json", "backup", src]));
    const records = backup.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = records.find((r) => r.message_type === "summary")!;
    expect(summary).toMatchObject({ files_unmodified: 3, data_blobs: 0 });
    expect(summary.snapshot_id).toMatch(/^[0-9a-f]{64}$/);

    const ls = expectOk(await cairn(["-r", repo, "--json", "ls", first]));
    const nodes = ls.stdout.trim().split("\n").map((l) => JSON.parse(l) as { path: string; type: string; size?: number });
    expect(nodes.find((n) => n.path === `${src}/docs/report.bin`)).toMatchObject({ type: "file", size: 300_000 });
    expect(nodes.find((n) => n.path === `${src}/link`)).toMatchObject({ type: "symlink", linktarget: "hello.txt" });

    const target = join(work.path, "restored-json");
    const restore = expectOk(await cairn(["-r", repo, "--json", "restore", first, "--target", target]));
    const result = restore.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).at(-1)!;
    expect(result).toMatchObject({ message_type: "summary", snapshot_id: first, files_restored: 3, damaged: [], problems: [] });
  });

  it("selects snapshots by full id, unique prefix and latest", async () => {
    const ids = await listSnapshotIds(new LocalBackend(repo));
    expect(ids).toHaveLength(2);
    const second = ids.find((id) => id !== first)!;
    const header = async (selector: string) => expectOk(await cairn(["-r", repo, "ls", selector])).stdout.split("\n")[0];
    expect(await header(first)).toMatch(new RegExp(`^snapshot ${first.slice(0, 8)} `));
    expect(await header(second)).toMatch(new RegExp(`^snapshot ${second.slice(0, 8)} `));
    // The shortest prefix that tells the two apart.
    let n = 1;
    while (first.slice(0, n) === second.slice(0, n)) n++;
    expect(await header(first.slice(0, n))).toMatch(new RegExp(`^snapshot ${first.slice(0, 8)} `));
    expect(await header("latest")).toMatch(new RegExp(`^snapshot ${second.slice(0, 8)} `));

    const target = join(work.path, "restored-prefix");
    expectOk(await cairn(["-r", repo, "restore", `${first.slice(0, 8)}:${src}/docs`, "--target", target]));
    expect((await fs.readFile(join(target, "report.bin"))).length).toBe(300_000);
    // A single file lands in the target directory under its own name.
    const single = join(work.path, "restored-file");
    expectOk(await cairn(["-r", repo, "restore", `latest:${src}/hello.txt`, "--target", single]));
    expect(await fs.readdir(single)).toEqual(["hello.txt"]);
    expect(await fs.readFile(join(single, "hello.txt"), "utf8")).toBe("hello, cairn\n");
  });
});

describe("the default repository", () => {
  it("is created on first use under $XDG_DATA_HOME/cairn, saying so on stderr", async () => {
    const xdg = join(work.path, "xdg-default");
    const backup = expectOk(await cairn(["backup", src], { XDG_DATA_HOME: xdg }));
    expect(backup.stderr).toContain(`created repository at ${join(xdg, "cairn")}`);
    expect(await fs.readdir(join(xdg, "cairn"))).toEqual(expect.arrayContaining(["config", "data", "index", "snapshots"]));

    const again = expectOk(await cairn(["snapshots"], { XDG_DATA_HOME: xdg }));
    expect(again.stderr).not.toContain("created repository");
    expect(again.stdout).toMatch(/^1 snapshot$/m);
  });

  it("falls back to ~/.local/share/cairn without XDG_DATA_HOME", async () => {
    const home = join(work.path, "home-default");
    const result = expectOk(await cairn(["snapshots"], { HOME: home, XDG_DATA_HOME: undefined }));
    expect(result.stderr).toContain(`created repository at ${join(home, ".local", "share", "cairn")}`);
    expect(result.stdout).toMatch(/^0 snapshots$/m);
  });

  it("is never created when a repository is named, by -r or CAIRN_REPOSITORY", async () => {
    const missing = join(work.path, "no-such-repo");
    for (const [args, extra] of [
      [["-r", missing, "backup", src], {}],
      [["-r", missing, "restore", "latest", "--target", join(work.path, "never")], {}],
      [["snapshots"], { CAIRN_REPOSITORY: missing }],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const result = await cairn(args, extra);
      expectOneLineError(result, 10, /cairn init/);
      expect(result.stderr).toContain(missing);
      await expect(fs.stat(missing)).rejects.toThrow(/ENOENT/);
    }
  });
});

describe("mistakes: one line on stderr, a non-zero exit, nothing written", () => {
  let badRepo: string;

  beforeAll(async () => {
    badRepo = join(work.path, "mistakes-repo");
    expectOk(await cairn(["-r", badRepo, "init"]));
    expectOk(await cairn(["-r", badRepo, "backup", src]));
  });

  async function expectUntouched(run: () => Promise<CliResult>, code: number, message: RegExp): Promise<void> {
    const before = await listing(badRepo);
    expectOneLineError(await run(), code, message);
    expect(await listing(badRepo)).toEqual(before);
  }

  it("a backup path that does not exist", async () => {
    const gone = join(work.path, "does-not-exist");
    await expectUntouched(() => cairn(["-r", badRepo, "backup", src, gone]), 1, new RegExp(`${gone}: no such file or directory`));
  });

  it("an unknown snapshot id", async () => {
    await expectUntouched(() => cairn(["-r", badRepo, "ls", "0".repeat(64)]), 2, /no snapshot with id 0{64}/);
    await expectUntouched(() => cairn(["-r", badRepo, "restore", "ffffffff", "--target", join(work.path, "x")]), 2, /no snapshot with id ffffffff/);
    await expectUntouched(() => cairn(["-r", badRepo, "ls", "not-an-id"]), 2, /invalid snapshot id/);
  });

  it("an ambiguous prefix", async () => {
    // More snapshots of the same tree until two ids share their first hex digit (17 at most).
    const backend = new LocalBackend(badRepo);
    const [id] = await listSnapshotIds(backend);
    const base = await loadSnapshot(backend, id!);
    let shared: string | undefined;
    for (let i = 1; !shared; i++) {
      const { id: _, ...snapshot } = base;
      await writeSnapshot(backend, { ...snapshot, time: new Date(Date.parse(base.time) + i * 1000).toISOString() });
      const ids = await listSnapshotIds(backend);
      shared = ids.map((s) => s[0]!).find((c, j, all) => all.indexOf(c) !== j);
    }
    await expectUntouched(() => cairn(["-r", badRepo, "ls", shared!]), 2, new RegExp(`snapshot prefix ${shared} is ambiguous \\(\\d+ snapshots match\\)`));
    await expectUntouched(() => cairn(["-r", badRepo, "restore", shared!, "--target", join(work.path, "y")]), 2, /is ambiguous/);
  });

  it("a repository path that is a file", async () => {
    const file = join(work.path, "a-file");
    await fs.writeFile(file, "not a repository");
    for (const args of [["backup", src], ["snapshots"], ["init"]]) {
      expectOneLineError(await cairn(["-r", file, ...args]), 10, new RegExp(`${file} is not a directory`));
      expect(await fs.readFile(file, "utf8")).toBe("not a repository");
    }
  });

  it("a config whose chunker size was changed, though still valid", async () => {
    const changed = join(work.path, "changed-config-repo");
    expectOk(await cairn(["-r", changed, "init"]));
    const config = join(changed, "config");
    const text = await fs.readFile(config, "utf8");
    await fs.chmod(config, 0o600);
    await fs.writeFile(config, text.replace(/"min_size": (\d+)/, (_all, n: string) => `"min_size": ${Number(n) - 1}`));
    expectOneLineError(await cairn(["-r", changed, "backup", src]), 10, /repository config is damaged \(its checksum does not match its settings\)/);
    expect(await fs.readdir(join(changed, "snapshots")).catch(() => [])).toEqual([]);
  });

  it("a damaged config", async () => {
    const damaged = join(work.path, "damaged-repo");
    expectOk(await cairn(["-r", damaged, "init"]));
    await fs.chmod(join(damaged, "config"), 0o600);
    await fs.writeFile(join(damaged, "config"), "{ this is not json");
    const before = await listing(damaged);
    for (const args of [["backup", src], ["snapshots"], ["restore", "latest", "--target", join(work.path, "z")]]) {
      expectOneLineError(await cairn(["-r", damaged, ...args]), 10, /repository config is damaged \(not valid JSON\)/);
    }
    expect(await listing(damaged)).toEqual(before);
    // The default location with a damaged config is reported, never silently re-created.
    const xdg = join(work.path, "xdg-damaged");
    await fs.mkdir(join(xdg, "cairn"), { recursive: true });
    await fs.writeFile(join(xdg, "cairn", "config"), "garbage");
    expectOneLineError(await cairn(["snapshots"], { XDG_DATA_HOME: xdg }), 10, /repository config is damaged/);
    expect(await fs.readFile(join(xdg, "cairn", "config"), "utf8")).toBe("garbage");
  });

  it("init over an existing repository", async () => {
    await expectUntouched(() => cairn(["-r", badRepo, "init"]), 1, /a repository already exists at/);
  });
});

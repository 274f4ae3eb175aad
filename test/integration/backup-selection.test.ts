// What restic users script a backup with: --files-from lists, --exclude-caches and marker
// headers, --time, --skip-if-unchanged.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { expectOk, expectUsageError } from "../support/cli-expect.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let repo: string;
let skipDir: string | undefined;

const cairn = (args: string[], input?: string | Buffer) => runCairn(["-r", repo, ...args], { cwd: work.path, ...(input !== undefined ? { input } : {}) });
const CACHE_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";

interface Snap {
  id: string;
  time: string;
  paths: string[];
}

async function snapshots(): Promise<Snap[]> {
  return JSON.parse(expectOk(await cairn(["snapshots", "--json"])).stdout) as Snap[];
}

/** The paths of the newest snapshot's files and directories, relative to `src`. */
async function latestPaths(): Promise<string[]> {
  const lines = expectOk(await cairn(["ls", "--json", "latest"])).stdout.trim().split("\n");
  return lines.map((line) => (JSON.parse(line) as { path: string }).path).filter((p) => p.startsWith(src + "/")).map((p) => p.slice(src.length + 1)).sort();
}

beforeAll(async () => {
  work = await tempDir("cairn-backup-selection-");
  src = join(work.path, "src");
  repo = join(work.path, "repo");
  for (const dir of ["etc", "home/ann/.cache", "home/bob", "var/fake-cache", "var/log", "odd"]) await fs.mkdir(join(src, dir), { recursive: true });
  await fs.writeFile(join(src, "etc/hosts"), "127.0.0.1 localhost\n");
  await fs.writeFile(join(src, "etc/.hidden"), "dot file\n");
  await fs.writeFile(join(src, "home/ann/notes.txt"), "ann's notes\n");
  await fs.writeFile(join(src, "home/ann/.cache/CACHEDIR.TAG"), `${CACHE_SIGNATURE}\n# a cache\n`);
  await fs.writeFile(join(src, "home/ann/.cache/blob"), "cached\n");
  await fs.writeFile(join(src, "home/bob/todo"), "bob\n");
  await fs.writeFile(join(src, "var/fake-cache/CACHEDIR.TAG"), "Signature: not the standard one\n");
  await fs.writeFile(join(src, "var/fake-cache/data"), "kept\n");
  await fs.writeFile(join(src, "var/log/syslog"), "log\n");
  await fs.writeFile(join(src, "odd/with [brackets]"), "literal\n");
  await fs.writeFile(join(src, "odd/new\nline"), "newline in the name\n");
  expectOk(await runCairn(["-r", repo, "init"]));
});

afterAll(async () => {
  await work?.cleanup();
  if (skipDir) await fs.rm(skipDir, { recursive: true, force: true });
});

describe("backup --files-from", () => {
  it("backs up what the glob patterns of a list match; comments, blank lines and spaces are ignored, a pattern matching nothing is reported", async () => {
    await fs.writeFile(join(work.path, "list"), `# what to keep\n  src/etc/*  \n\n${src}/home/*/notes.txt\nsrc/nothing-here*\n`);
    const result = expectOk(await cairn(["backup", "--files-from", "list"]));
    expect(result.stderr).toContain("src/nothing-here* matches nothing, skipped");
    expect(await latestPaths()).toEqual(["etc", "etc/.hidden", "etc/hosts", "home", "home/ann", "home/ann/notes.txt"]);
    expect((await snapshots()).at(-1)!.paths.sort()).toEqual([join(src, "etc/.hidden"), join(src, "etc/hosts"), join(src, "home/ann/notes.txt")]);
  });

  it("takes --files-from-verbatim names as they are, from standard input too, together with paths given as arguments", async () => {
    const result = expectOk(await cairn(["backup", "--files-from-verbatim", "-", join(src, "var/log")], `src/odd/with [brackets]\r\n\n${join(src, "home/bob")}\n`));
    expect(result.stderr).not.toContain("skipped");
    expect(await latestPaths()).toEqual(["home", "home/bob", "home/bob/todo", "odd", "odd/with [brackets]", "var", "var/log", "var/log/syslog"]);
  });

  it("takes --files-from-raw names ended by NUL bytes, line breaks included", async () => {
    await fs.writeFile(join(work.path, "raw"), Buffer.from(`src/odd/new\nline\0${join(src, "etc/hosts")}\0`));
    expectOk(await cairn(["backup", "--files-from-raw", "raw"]));
    expect(await latestPaths()).toEqual(["etc", "etc/hosts", "odd", "odd/new\nline"]);
    const dumped = await cairn(["dump", "latest", join(src, "odd/new\nline")]);
    expect(dumped.stdout).toBe("newline in the name\n");
  });

  it("takes every listed name for a path, even one that reads like another kind of source", async () => {
    await fs.writeFile(join(work.path, "docker:notes"), "a file, not a container\n");
    expectOk(await cairn(["backup", "--files-from-verbatim", "-"], "docker:notes\n"));
    expect((await snapshots()).at(-1)!.paths).toEqual([join(work.path, "docker:notes")]);
    expect((await cairn(["dump", "latest", join(work.path, "docker:notes")])).stdout).toBe("a file, not a container\n");
  });

  it("reads a list as restic does: a byte-order mark, UTF-16, Unicode white space around a line", async () => {
    await fs.writeFile(join(work.path, "bom"), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`src/etc/hosts\u0085\n\u3000src/var/log\n`)]));
    expectOk(await cairn(["backup", "--files-from", "bom"]));
    expect((await snapshots()).at(-1)!.paths).toEqual([join(src, "etc/hosts"), join(src, "var/log")]);
    await fs.writeFile(join(work.path, "utf16"), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("src/home/bob\r\n", "utf16le")]));
    expectOk(await cairn(["backup", "--files-from", "utf16"]));
    expect((await snapshots()).at(-1)!.paths).toEqual([join(src, "home/bob")]);
  });

  it("refuses bad lists in one line, before anything is written", async () => {
    const before = (await snapshots()).length;
    await fs.writeFile(join(work.path, "unended"), Buffer.from(`${src}/etc`));
    await fs.writeFile(join(work.path, "empty-name"), Buffer.from(`${src}/etc\0\0`));
    await fs.writeFile(join(work.path, "missing-name"), `${src}/etc\n${src}/not-there\n`);
    await fs.writeFile(join(work.path, "no-match"), "src/none*\n");
    expectUsageError(await cairn(["backup", "--files-from", "no-such-list"]), /--files-from no-such-list: ENOENT/);
    expectUsageError(await cairn(["backup", "--files-from-raw", "unended"]), /last name is not ended by a NUL byte/);
    expectUsageError(await cairn(["backup", "--files-from-raw", "empty-name"]), /an empty name in the list/);
    expectUsageError(await cairn(["backup", "--files-from", "-", "--files-from-verbatim", "-"], "x\n"), /one --files-from option only/);
    await fs.writeFile(join(work.path, "long-line"), `src/etc\n${"x".repeat(70_000)}\n`);
    expectUsageError(await cairn(["backup", "--files-from", "long-line"]), /--files-from long-line: a line is longer than 64 KiB/);
    await fs.writeFile(join(work.path, "malformed"), "src/etc\nsrc/[\n");
    expectUsageError(await cairn(["backup", "--files-from", "malformed"]), /--files-from: "src\/\[" is not a well-formed pattern/);
    expectUsageError(await cairn(["backup", "--stdin", "--files-from", "no-match"], "data"), /cannot be used with --stdin/);
    const nothing = await cairn(["backup", "--files-from", "no-match"]);
    expect(nothing.stderr).toContain("src/none* matches nothing, skipped");
    expect(nothing.stderr).toMatch(/^cairn: nothing to back up: the --files-from lists name nothing that exists$/m);
    expect(nothing.code).toBe(2);
    const missing = await cairn(["backup", "--files-from-verbatim", "missing-name"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`cairn: ${join(src, "not-there")}: no such file or directory`);
    expect((await snapshots()).length).toBe(before);
  });
});

describe("backup --exclude-caches and --exclude-if-present NAME:HEADER", () => {
  it("leaves out directories tagged as caches, and keeps one whose tag lacks the signature", async () => {
    expectOk(await cairn(["backup", "--exclude-caches", src]));
    const paths = await latestPaths();
    expect(paths).toContain("home/ann/notes.txt");
    expect(paths.filter((p) => p.startsWith("home/ann/.cache"))).toEqual([]);
    expect(paths).toContain("var/fake-cache/data");
  });

  it("takes a header after the marker's name, and a name alone excludes whatever the file holds", async () => {
    expectOk(await cairn(["backup", "--exclude-if-present", "CACHEDIR.TAG:Signature: not the", src]));
    let paths = await latestPaths();
    expect(paths.filter((p) => p.startsWith("var/fake-cache"))).toEqual([]);
    expect(paths).toContain("home/ann/.cache/blob");
    expectOk(await cairn(["backup", "--exclude-if-present", "CACHEDIR.TAG", src]));
    paths = await latestPaths();
    expect(paths.filter((p) => p.includes("cache"))).toEqual([]);
  });

  it("refuses a marker without a name", async () => {
    expectUsageError(await cairn(["backup", "--exclude-if-present", ":header", src]), /--exclude-if-present: ":header" does not start with a file name/);
  });
});

describe("backup --time and --skip-if-unchanged", () => {
  it("records the time given instead of now, and refuses one it cannot read", async () => {
    const result = expectOk(await cairn(["backup", "--json", "--time", "2025-01-02T03:04:05Z", join(src, "home/bob")]));
    const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { snapshot_id: string };
    const snap = (await snapshots()).find((s) => s.id === summary.snapshot_id)!;
    expect(snap.time).toBe("2025-01-02T03:04:05.000Z");
    expectUsageError(await cairn(["backup", "--time", "someday", src]), /--time: cannot read "someday" as a time/);
  });

  it("writes no snapshot when nothing changed, and one as soon as something did", async () => {
    // The directories above a backed-up path are in its snapshot with their times, and /tmp's
    // change whenever another test makes a file there: /var/tmp holds still.
    const outside = await fs.mkdtemp("/var/tmp/cairn-skip-");
    skipDir = outside;
    const dir = join(outside, "log");
    await fs.mkdir(dir);
    await fs.writeFile(join(dir, "syslog"), "log\n");
    expectOk(await cairn(["backup", dir]));
    const before = (await snapshots()).length;
    const same = expectOk(await cairn(["backup", "--skip-if-unchanged", "--json", dir]));
    const summary = JSON.parse(same.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ message_type: "summary", skipped: true, files_unmodified: 1 });
    expect(summary.snapshot_id).toBeUndefined();
    expect((await snapshots()).length).toBe(before);
    await fs.appendFile(join(dir, "syslog"), "one more line\n");
    const changed = expectOk(await cairn(["backup", "--skip-if-unchanged", dir]));
    expect(changed.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);
    expect((await snapshots()).length).toBe(before + 1);
    expect((await cairn(["dump", "latest", join(dir, "syslog")])).stdout).toBe("log\none more line\n");
  });
});

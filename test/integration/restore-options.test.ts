// restore --include/--exclude, --overwrite, --delete, --verify and --dry-run through the real CLI.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { verifyRestoredFile } from "../../src/restore/verify-restored.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { CAIRN_BIN, runCairn } from "../support/cli.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let target: string;
let snapshot: StoredSnapshot;
const TOP_MTIME = new Date("2025-06-01T10:00:00Z");

const FILES = {
  "top.txt": "top\n",
  "docs/a.txt": "a\n",
  "docs/b.pdf": "%PDF\n",
  "docs/sub/c.txt": "c\n",
  "photos/p.jpg": "jpeg\n",
  "photos/raw/q.raw": "raw\n",
};

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  await writeTree(src, FILES);
  await fs.utimes(join(src, "top.txt"), TOP_MTIME, TOP_MTIME);
  snapshot = await backup(t.repo, [src]);
  await t.close();
});

afterAll(async () => {
  await t?.cleanup();
});

beforeEach(async () => {
  target = join(t.work, `target-${Math.random().toString(36).slice(2)}`);
});

const cairn = (...args: string[]) => runCairn(["-r", t.repoPath, ...args]);
const restore = (...args: string[]) => cairn("restore", `latest:${src}`, "--target", target, ...args);

/** Every path under a directory (directories with a trailing slash), sorted. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p) + (e.isDirectory() ? "/" : ""));
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

describe("restore target", () => {
  it("refuses, in one line, a target that is a file or lies below one", async () => {
    await fs.writeFile(target, "not a directory\n");
    for (const [into, reason] of [
      [target, "it exists and is not a directory"],
      [join(target, "below"), "a part of the path is not a directory"],
    ] as const) {
      const r = await cairn("--quiet", "restore", "latest", "--target", into);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`cairn: cannot restore into ${into}: ${reason}\n`);
    }
    expect(await fs.readFile(target, "utf8")).toBe("not a directory\n");
  });

  it("says why it cannot create a target under /proc, where Node's recursive mkdir would spin for ever", async () => {
    const into = `/proc/cairn-restore-${process.pid}/x`;
    const r = await cairn("--quiet", "restore", "latest", "--target", into);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^cairn: cannot create ${into}: no such file or directory\n$`));
  });
});

describe("restore --include / --exclude", () => {
  it("restores only matching files, creating just the directories that lead to them", async () => {
    const r = await restore("--include", "*.txt");
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(target)).toEqual(["docs/", "docs/a.txt", "docs/sub/", "docs/sub/c.txt", "top.txt"]);
    expect(await fs.readFile(join(target, "docs/sub/c.txt"), "utf8")).toBe("c\n");
  });

  it("leaves out what an exclude pattern matches, directories with everything inside", async () => {
    const r = await restore("--exclude", "photos/", "--exclude", "*.pdf");
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(target)).toEqual(["docs/", "docs/a.txt", "docs/sub/", "docs/sub/c.txt", "top.txt"]);
  });

  it("combines both, exclude winning; an anchored pattern names a path from the snapshot root", async () => {
    const r = await restore("--include", `${src}/docs`, "--exclude", "sub/");
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(target)).toEqual(["docs/", "docs/a.txt", "docs/b.pdf"]);
  });
});

describe("restore --overwrite", () => {
  const topPath = () => join(target, "top.txt");

  async function restoredThenEdited(content: string, mtime: Date): Promise<void> {
    expect((await restore()).code).toBe(0);
    await fs.writeFile(topPath(), content);
    await fs.utimes(topPath(), mtime, mtime);
  }

  it("always: replaces every existing file", async () => {
    await restoredThenEdited("local\n", new Date());
    expect((await restore("--overwrite", "always")).code).toBe(0);
    expect(await fs.readFile(topPath(), "utf8")).toBe("top\n");
  });

  it("always: replaces a FIFO standing where a file goes, without waiting on it", async () => {
    await fs.mkdir(target, { recursive: true });
    execFileSync("mkfifo", [topPath()]);
    const r = await runCairn(["-r", t.repoPath, "restore", `latest:${src}`, "--target", target], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.lstat(topPath())).isFile()).toBe(true);
    expect(await fs.readFile(topPath(), "utf8")).toBe("top\n");
  });

  it("never: keeps every existing file", async () => {
    await restoredThenEdited("local\n", new Date("2000-01-01T00:00:00Z"));
    const r = await restore("--overwrite", "never");
    expect(r.code).toBe(0);
    expect(await fs.readFile(topPath(), "utf8")).toBe("local\n");
  });

  it("if-changed: replaces a file whose size or mtime differ, keeps one that looks the same", async () => {
    await restoredThenEdited("TOP\n", TOP_MTIME);
    await restore("--overwrite", "if-changed");
    expect(await fs.readFile(topPath(), "utf8")).toBe("TOP\n");
    await fs.utimes(topPath(), new Date(), new Date());
    await restore("--overwrite", "if-changed");
    expect(await fs.readFile(topPath(), "utf8")).toBe("top\n");
  });

  it("if-newer: replaces only files older than the snapshot's", async () => {
    await restoredThenEdited("newer local\n", new Date("2030-01-01T00:00:00Z"));
    await restore("--overwrite", "if-newer");
    expect(await fs.readFile(topPath(), "utf8")).toBe("newer local\n");
    await fs.utimes(topPath(), new Date("2001-01-01T00:00:00Z"), new Date("2001-01-01T00:00:00Z"));
    await restore("--overwrite", "if-newer");
    expect(await fs.readFile(topPath(), "utf8")).toBe("top\n");
  });

  it("rejects an unknown policy", async () => {
    const r = await restore("--overwrite", "sometimes");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--overwrite must be one of");
  });
});

describe("restore --delete", () => {
  it("removes what the snapshot does not have, inside the target only, never following links", async () => {
    const outside = join(t.work, `outside-${Math.random().toString(36).slice(2)}`);
    await writeTree(outside, { "precious.txt": "keep me\n" });
    await writeTree(target, { "extra.txt": "x", "docs/extra/deep.txt": "y", "docs/a.txt": "old a\n" });
    await fs.symlink(outside, join(target, "outlink"));
    const r = await restore("--delete");
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(target)).toEqual(["docs/", "docs/a.txt", "docs/b.pdf", "docs/sub/", "docs/sub/c.txt", "photos/", "photos/p.jpg", "photos/raw/", "photos/raw/q.raw", "top.txt"]);
    // The path removed, in the target: the snapshot's path would name the live source's file.
    expect(r.stdout).toContain(`delete ${target}/outlink`);
    expect(r.stdout).not.toContain(`delete ${src}`);
    expect(r.stdout).toMatch(/3 deleted/);
    expect(await fs.readFile(join(outside, "precious.txt"), "utf8")).toBe("keep me\n");
  });

  it("deletes only within the include and exclude patterns", async () => {
    await writeTree(target, { "extra.txt": "x", "extra.log": "l", "docs/old.txt": "o" });
    const r = await restore("--delete", "--include", "*.txt");
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(target)).toEqual(["docs/", "docs/a.txt", "docs/sub/", "docs/sub/c.txt", "extra.log", "top.txt"]);
  });
});

describe("restore --dry-run", () => {
  it("reports what would be restored and writes nothing", async () => {
    const r = await restore("--dry-run", "--include", "*.txt");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("would restore /"))).toEqual([
      `would restore ${src}/docs`,
      `would restore ${src}/docs/a.txt`,
      `would restore ${src}/docs/sub`,
      `would restore ${src}/docs/sub/c.txt`,
      `would restore ${src}/top.txt`,
    ]);
    expect(r.stdout).toContain("would restore 3 files, 2 directories, 0 other items, 8 B; 2 skipped");
    await expect(fs.stat(target)).rejects.toThrow(/ENOENT/);
  });

  it("reports skips and deletions without touching the target", async () => {
    await writeTree(target, { "extra.txt": "x" });
    expect((await restore()).code).toBe(0);
    const before = await listing(target);
    const r = await restore("--dry-run", "--delete", "--overwrite", "if-changed", "--json");
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    // A deletion names the path in the target, the file that goes.
    expect(records.filter((x) => x.action === "deleted").map((x) => x.item)).toEqual([`${target}/extra.txt`]);
    expect(records.filter((x) => x.action === "unchanged").length).toBe(Object.keys(FILES).length);
    expect(records.at(-1)).toMatchObject({ message_type: "summary", dry_run: true, files_restored: 0, files_deleted: 1 });
    expect(await listing(target)).toEqual(before);
  });
});

describe("restore --verify", () => {
  it("reads every restored file back and reports them equal", async () => {
    const r = await restore("--verify");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`verified ${Object.keys(FILES).length} files, all equal to the snapshot`);
  });

  it("names the file and byte range that differ from the snapshot", async () => {
    expect((await restore()).code).toBe(0);
    await fs.writeFile(join(target, "docs/a.txt"), "A\n");
    await t.reopen();
    try {
      const node = (await findNode(t.repo, snapshot.tree, `${src}/docs/a.txt`))!;
      expect(await verifyRestoredFile(t.repo, Buffer.from(join(target, "docs/a.txt")), node)).toBe("content differs from the snapshot at bytes 0-1 (chunk 0)");
      await fs.writeFile(join(target, "docs/a.txt"), "a\nb\n");
      expect(await verifyRestoredFile(t.repo, Buffer.from(join(target, "docs/a.txt")), node)).toBe("size is 4 bytes, the snapshot records 2");
      await fs.writeFile(join(target, "docs/a.txt"), "a\n");
      expect(await verifyRestoredFile(t.repo, Buffer.from(join(target, "docs/a.txt")), node)).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe("interrupted", () => {
  it("130: SIGINT stops a restore with its lock released, and the next restore completes it", async () => {
    const own = await createTestRepository({ packSize: 1024 * 1024 });
    try {
      const many = join(own.work, "many");
      const files: Record<string, string> = {};
      for (let d = 0; d < 12; d++) for (let f = 0; f < 1000; f++) files[`d${d}/f${f}`] = `${d}/${f} `.repeat(300);
      await writeTree(many, files);
      await backup(own.repo, [many]);
      await own.close();
      const into = join(own.work, "target");
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", own.repoPath, "--quiet", "restore", `latest:${many}`, "--target", into], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      // Once the first file is there, contents are being written.
      const first = join(into, "d0", "f0");
      for (let i = 0; i < 4000 && !(await fs.stat(first).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 5));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(stderr).toBe("cairn: interrupted\n");
      expect(await fs.readdir(join(own.repoPath, "locks"))).toEqual([]);

      const again = await runCairn(["-r", own.repoPath, "--quiet", "restore", `latest:${many}`, "--target", into]);
      expect(again.code, again.stderr).toBe(0);
      for (const [rel, content] of Object.entries(files)) expect(await fs.readFile(join(into, rel), "utf8"), rel).toBe(content);
    } finally {
      await own.cleanup();
    }
  }, 120_000);

  it("130: SIGINT stops a dump to a file, which is removed, with the lock released", async () => {
    const own = await createTestRepository();
    try {
      const big = join(own.work, "big.bin");
      await fs.writeFile(big, randomBytes(96 * 1024 * 1024));
      await backup(own.repo, [big]);
      await own.close();
      const out = join(own.work, "out.bin");
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", own.repoPath, "dump", "latest", big, "--target", out], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      // Once bytes arrive in the file, the dump is under way.
      for (let i = 0; i < 4000 && !((await fs.stat(out).catch(() => undefined))?.size); i++) await new Promise((r) => setTimeout(r, 5));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(stderr).toBe("cairn: interrupted\n");
      await expect(fs.stat(out)).rejects.toMatchObject({ code: "ENOENT" });
      expect(await fs.readdir(join(own.repoPath, "locks"))).toEqual([]);
    } finally {
      await own.cleanup();
    }
  }, 120_000);
});

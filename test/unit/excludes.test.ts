// Every kind of exclusion: patterns (relative and absolute), pattern files, marker files, size, file system.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup, type BackupOptions } from "../../src/backup/archiver.js";
import { createExcludeFilter, parseExcludeFile } from "../../src/backup/excludes.js";
import { PathSource } from "../../src/backup/path-source.js";
import { scanTotals } from "../../src/backup/scanner.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { walkTree } from "../../src/store/tree/tree-walker.js";

const asRoot = process.getuid?.() === 0;

describe("createExcludeFilter", () => {
  const filter = (patterns: string[], roots = ["/srv/app"]) => createExcludeFilter({ patterns, roots })!;

  it("matches a name without a slash at any depth", () => {
    const f = filter(["*.log", "node_modules"]);
    expect(f("/srv/app/a.log", false, 0)).toBe(true);
    expect(f("/srv/app/deep/er/b.log", false, 0)).toBe(true);
    expect(f("/srv/app/web/node_modules", true, 0)).toBe(true);
    expect(f("/srv/app/a.txt", false, 0)).toBe(false);
  });

  it("anchors a leading slash at each backup root, and also matches absolute paths", () => {
    const f = filter(["/cache", "/etc/secret"], ["/srv/app", "/etc"]);
    expect(f("/srv/app/cache", true, 0)).toBe(true);
    expect(f("/srv/app/sub/cache", true, 0)).toBe(false);
    expect(f("/etc/secret", false, 0)).toBe(true);
  });

  it("supports directory-only patterns, ** and negation", () => {
    const f = filter(["build/", "logs/**/*.gz", "*.tmp", "!keep.tmp"]);
    expect(f("/srv/app/build", true, 0)).toBe(true);
    expect(f("/srv/app/build", false, 0)).toBe(false);
    expect(f("/srv/app/logs/2024/01/a.gz", false, 0)).toBe(true);
    expect(f("/srv/app/x.tmp", false, 0)).toBe(true);
    expect(f("/srv/app/keep.tmp", false, 0)).toBe(false);
  });

  it("is case-sensitive, like the file system", () => {
    expect(filter(["*.LOG"])("/srv/app/a.log", false, 0)).toBe(false);
  });

  it("excludes files larger than a size, never directories", () => {
    const f = createExcludeFilter({ largerThan: 100 })!;
    expect(f("/a", false, 101)).toBe(true);
    expect(f("/a", false, 100)).toBe(false);
    expect(f("/d", true, 4096)).toBe(false);
  });

  it("is absent when nothing is excluded", () => {
    expect(createExcludeFilter({ patterns: [" "], roots: ["/"] })).toBeUndefined();
  });

  it("reads pattern files with comments and blank lines", () => {
    expect(parseExcludeFile("# caches\n*.cache\n\n/tmp/\r\n")).toEqual(["*.cache", "/tmp/"]);
  });
});

describe("excluding during a backup", () => {
  let work: string;
  let src: string;
  let repo: Repository;
  let mounted = false;

  beforeAll(async () => {
    work = await fs.mkdtemp(join(tmpdir(), "cairn-excl-"));
    src = join(work, "src");
    const files: Record<string, string> = {
      "keep.txt": "keep",
      "debug.log": "log",
      "cache/blob": "cached",
      "project/.nobackup": "",
      "project/code.c": "int main;",
      "big.iso": "x".repeat(5000),
      "small.iso": "x".repeat(50),
      "mnt/.keep": "",
    };
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(join(src, name, ".."), { recursive: true });
      await fs.writeFile(join(src, name), content);
    }
    if (asRoot) {
      await fs.mkdir(join(src, "mnt", "other"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "cairn-test", join(src, "mnt", "other")]);
      mounted = true;
      await fs.writeFile(join(src, "mnt", "other", "on-tmpfs"), "elsewhere");
    }
    await initLocalRepository(join(work, "repo"));
    repo = await openLocalRepository(join(work, "repo"));
  });

  afterAll(async () => {
    await repo?.close();
    if (mounted) execFileSync("umount", [join(src, "mnt", "other")]);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function backedUp(options: Partial<BackupOptions>): Promise<string[]> {
    const result = await runBackup(repo, { sources: [new PathSource(src)], ...options });
    expect(result.warnings).toEqual([]);
    const paths: string[] = [];
    for await (const entry of walkTree(repo, result.snapshot.tree, { start: src })) paths.push(entry.path.slice(src.length + 1));
    return paths.sort();
  }

  it("leaves out what patterns match, relative to the backup root", async () => {
    const exclude = createExcludeFilter({ patterns: ["*.log", "/cache"], roots: [src] })!;
    const paths = await backedUp({ exclude });
    expect(paths).toContain("keep.txt");
    expect(paths).not.toContain("debug.log");
    expect(paths.filter((p) => p.startsWith("cache"))).toEqual([]);
  });

  it("leaves out an absolute path", async () => {
    const exclude = createExcludeFilter({ patterns: [join(src, "project")], roots: [src] })!;
    expect((await backedUp({ exclude })).filter((p) => p.startsWith("project"))).toEqual([]);
  });

  it("leaves out directories holding a marker file (--exclude-if-present)", async () => {
    const paths = await backedUp({ excludeIfPresent: [".nobackup"] });
    expect(paths.filter((p) => p.startsWith("project"))).toEqual([]);
    expect(paths).toContain("keep.txt");
  });

  it("leaves out files larger than a size (--exclude-larger-than)", async () => {
    const paths = await backedUp({ exclude: createExcludeFilter({ largerThan: 1000 })! });
    expect(paths).toContain("small.iso");
    expect(paths).not.toContain("big.iso");
  });

  it.skipIf(!asRoot)("stays on one file system, keeping mount points as empty directories (root: mounts a tmpfs)", async () => {
    const everything = await backedUp({});
    expect(everything).toContain("mnt/other/on-tmpfs");
    const paths = await backedUp({ oneFileSystem: true });
    expect(paths).toContain("mnt/other");
    expect(paths).not.toContain("mnt/other/on-tmpfs");
  });

  it("scans the same totals the backup will cover", async () => {
    const exclude = createExcludeFilter({ patterns: ["*.log"], roots: [src] })!;
    const totals = await scanTotals([src], { exclude, excludeIfPresent: [".nobackup"], oneFileSystem: true });
    const result = await runBackup(repo, { sources: [new PathSource(src)], exclude, excludeIfPresent: [".nobackup"], oneFileSystem: true, dryRun: true });
    expect(totals.done).toBe(true);
    expect(totals.files).toBe(result.counters.filesProcessed);
    expect(totals.bytes).toBe(result.counters.bytesProcessed);
  });
});

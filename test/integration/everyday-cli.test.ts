// The everyday commands through the real CLI: diff, dump, find, stats, tag, snapshots --group-by, and --at.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { runCairn } from "../support/cli.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let s1: StoredSnapshot;
let s2: StoredSnapshot;
let s3: StoredSnapshot;
let d1: StoredSnapshot;
const SAME = "x".repeat(20_000);

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  await writeTree(src, { "a.txt": "one\n", "b.txt": "bee\n", "d.txt": "dee\n", "m.txt": "em\n", "same1.txt": SAME, "same2.txt": SAME });
  s1 = await backup(t.repo, [src], { hostname: "web", time: new Date("2026-11-16T09:00:00Z"), tags: ["daily"] });

  await writeTree(src, { "a.txt": "two!\n", "c.txt": "sea\n", "new/n.txt": "en\n" });
  await fs.rm(join(src, "b.txt"));
  await fs.rm(join(src, "d.txt"));
  await fs.symlink("a.txt", join(src, "d.txt"));
  await fs.chmod(join(src, "m.txt"), 0o600);
  s2 = await backup(t.repo, [src], { hostname: "web", time: new Date("2026-11-17T08:00:00Z") });

  await writeTree(src, { "a.txt": "three\n" });
  s3 = await backup(t.repo, [src], { hostname: "web", time: new Date("2026-11-18T09:00:00Z") });

  const db = join(t.work, "db");
  await writeTree(db, { "db.txt": "data\n" });
  d1 = await backup(t.repo, [db], { hostname: "db", time: new Date("2026-11-17T07:00:00Z"), tags: ["db"] });
  await t.close();
});

afterAll(async () => {
  await t?.cleanup();
});

const cairn = (...args: string[]) => runCairn(["-r", t.repoPath, ...args], { env: { TZ: "UTC" } });
const short = (s: StoredSnapshot) => s.id.slice(0, 8);
const jsonLines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

describe("diff", () => {
  it("prints every change with restic's markers, then the counts", async () => {
    const r = await cairn("diff", `${short(s1)}:${src}`, `${short(s2)}:${src}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      `comparing snapshot ${short(s1)} to ${short(s2)}:`,
      "",
      "M    /a.txt",
      "-    /b.txt",
      "+    /c.txt",
      "T    /d.txt",
      "U    /m.txt",
      "+    /new/",
      "+    /new/n.txt",
      "",
      "Files:            2 new,     1 removed,     1 changed",
      "Dirs:             1 new,     0 removed",
      "Others:           0 new,     0 removed",
      "Metadata:         1 changed",
      "Types:            1 changed",
      "Data Blobs:       3 new,     3 removed",
      "  Added:   12 B",
      "  Removed: 12 B",
      "",
    ]);
  });

  it("with --json, prints one object per change and the statistics", async () => {
    const r = await cairn("--json", "diff", `${short(s1)}:${src}`, `${short(s2)}:${src}`);
    expect(r.code, r.stderr).toBe(0);
    const records = jsonLines(r.stdout);
    expect(records.slice(0, -1).map((x) => [x.modifier, x.path])).toEqual([
      ["M", "/a.txt"],
      ["-", "/b.txt"],
      ["+", "/c.txt"],
      ["T", "/d.txt"],
      ["U", "/m.txt"],
      ["+", "/new"],
      ["+", "/new/n.txt"],
    ]);
    expect(records[4]).toMatchObject({ message_type: "change", kind: "metadata", type: "file", fields: ["mode"] });
    expect(records.at(-1)).toMatchObject({
      message_type: "statistics",
      source_snapshot: s1.id,
      target_snapshot: s2.id,
      changed_files: 1,
      added: { files: 2, dirs: 1, others: 0, data_blobs: 3, bytes: 12 },
      removed: { files: 1, dirs: 0, others: 0, data_blobs: 3, bytes: 12 },
    });
  });

  it("with --at, compares the snapshot current at that time with the one given", async () => {
    const r = await cairn("diff", "--host", "web", "--at", "2026-11-17T09:00", `latest:${src}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n").slice(0, 3)).toEqual([`comparing snapshot ${short(s2)} to ${short(s3)}:`, "", "M    /a.txt"]);
    expect((await cairn("diff", "latest")).code).toBe(2);
  });
});

describe("--at", () => {
  it("restore latest --at picks the newest snapshot at or before the time, within the filters", async () => {
    const target = join(t.work, "at-restore");
    const r = await cairn("restore", "latest", "--at", "2026-11-17T09:00", "--host", "web", "--target", target);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`restoring snapshot ${short(s2)}`);
    expect(await fs.readFile(join(target, src, "a.txt"), "utf8")).toBe("two!\n");
    // Without --host every snapshot counts: before the 17th only s1 existed.
    const ls = await cairn("ls", "latest", `${src}`, "--at", "2026-11-16T23:59:59Z", "--no-recursive");
    expect(ls.stdout).toContain(`snapshot ${short(s1)}`);
    expect(ls.stdout).toContain(`${src}/b.txt`);
  });

  it("fails clearly when nothing is that old or the time is unreadable", async () => {
    const old = await cairn("ls", "latest", "--at", "2026-01-01");
    expect(old.code).toBe(2);
    expect(old.stderr).toBe("cairn: no snapshot at or before 2026-01-01 00:00:00 matches\n");
    const bad = await cairn("ls", "latest", "--at", "last blue moon");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--at: cannot read "last blue moon" as a time');
  });
});

describe("dump", () => {
  it("writes a file byte for byte, to stdout or to --target", async () => {
    const out = await cairn("dump", "latest", `${src}/same1.txt`, "--host", "web");
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(SAME);
    const file = join(t.work, "dumped-a.txt");
    const r = await cairn("dump", short(s1), `${src}/a.txt`, "--target", file);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(file, "utf8")).toBe("one\n");
    const again = await cairn("dump", short(s1), `${src}/a.txt`, "--target", file);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
  });

  it("writes a directory as a tar archive that tar reads", async () => {
    const file = join(t.work, "src.tar");
    const r = await cairn("dump", "latest", src, "--host", "web", "--at", "2026-11-17T09:00", "--target", file);
    expect(r.code, r.stderr).toBe(0);
    const names = execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n");
    expect(names).toEqual(["src/", "src/a.txt", "src/c.txt", "src/d.txt", "src/m.txt", "src/new/", "src/new/n.txt", "src/same1.txt", "src/same2.txt"]);
    expect(execFileSync("tar", ["-xOf", file, "src/a.txt"], { encoding: "utf8" })).toBe("two!\n");
    expect(execFileSync("tar", ["-tvf", file, "src/m.txt"], { encoding: "utf8" })).toMatch(/^-rw------- /);
  });

  it("names a path that is not in the snapshot", async () => {
    const r = await cairn("dump", "latest", `${src}/nope`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no such file or directory in the snapshot");
  });
});

describe("find", () => {
  it("groups matches by snapshot", async () => {
    const r = await cairn("find", "n.txt", "b.*");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Found 1 in snapshot ${short(s1)}`);
    expect(r.stdout).toContain(`  ${src}/b.txt\n`);
    expect(r.stdout).toContain(`  ${src}/new/n.txt\n`);
    expect(r.stdout).toContain("3 matches in 3 of 4 snapshots");
  });

  it("restricts to --snapshot and prints JSON per snapshot", async () => {
    const r = await cairn("--json", "find", "*.txt", "--snapshot", short(s1), "--snapshot", short(d1));
    expect(r.code, r.stderr).toBe(0);
    const records = jsonLines(r.stdout);
    expect(records.map((x) => [x.snapshot, x.hits])).toEqual([
      [s1.id, 6],
      [d1.id, 1],
    ]);
    expect((records[1]!.matches as { path: string; type: string; size: number }[])[0]).toMatchObject({ path: join(t.work, "db", "db.txt"), type: "file", size: 5 });
  });
});

describe("stats", () => {
  const sizes = { s1: 4 + 4 + 4 + 3 + 2 * SAME.length, s2: 5 + 4 + 3 + 3 + 2 * SAME.length, s3: 6 + 4 + 3 + 3 + 2 * SAME.length };

  it("counts the restore size exactly and finds the duplication", async () => {
    const r = await cairn("--json", "stats", "--host", "web");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { snapshots_count: number; restore_size: { bytes: number; files: number }; deduplication_ratio: number; raw_data: { data_bytes: number } };
    expect(doc.snapshots_count).toBe(3);
    expect(doc.restore_size.bytes).toBe(sizes.s1 + sizes.s2 + sizes.s3);
    expect(doc.restore_size.files).toBe(6 + 6 + 6);
    // Distinct data: one copy of SAME plus the small files' versions.
    expect(doc.raw_data.data_bytes).toBe(SAME.length + ["one\n", "bee\n", "dee\n", "em\n", "two!\n", "sea\n", "en\n", "three\n"].join("").length);
    expect(doc.deduplication_ratio).toBeGreaterThan(5);
  });

  it("takes snapshot arguments, --at and a restic mode", async () => {
    const r = await cairn("--json", "stats", "--mode", "restore-size", short(s1));
    expect(JSON.parse(r.stdout)).toEqual({ total_size: sizes.s1, total_file_count: 6, snapshots_count: 1 });
    const at = await cairn("--json", "stats", "--mode", "restore-size", "--at", "2026-11-17T09:00");
    // What was current then: s2 (web) and d1 (db).
    expect(JSON.parse(at.stdout)).toEqual({ total_size: sizes.s2 + 5, total_file_count: 7, snapshots_count: 2 });
    const text = await cairn("stats", short(s1));
    expect(text.stdout).toContain("Restore size:         39.08 KB in 6 files");
    expect(text.stdout).toMatch(/Deduplication ratio: +2\.00x/);
  });
});

describe("snapshots --group-by", () => {
  it("groups as JSON {group_key, snapshots} and as text", async () => {
    const r = await cairn("--json", "snapshots", "--group-by", "host");
    expect(r.code, r.stderr).toBe(0);
    const groups = JSON.parse(r.stdout) as { group_key: { hostname: string }; snapshots: { id: string }[] }[];
    expect(groups.map((g) => [g.group_key.hostname, g.snapshots.map((s) => s.id)])).toEqual([
      ["db", [d1.id]],
      ["web", [s1.id, s2.id, s3.id]],
    ]);
    const text = await cairn("snapshots", "--group-by", "host,tags", "--compact");
    expect(text.stdout).toContain("snapshots for host [web], tags [daily]:");
    expect(text.stdout).toContain("snapshots for host [web], tags []:");
  });

  it("--latest n shows the newest n of each host and set of paths, as restic does", async () => {
    const r = await cairn("--json", "snapshots", "--latest", "1");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id)).toEqual([d1.id, s3.id]);
  });
});

describe("--quiet", () => {
  it("keeps what was asked for (listings, tables, changes) and drops only the commentary", async () => {
    const ls = await cairn("--quiet", "ls", short(s1));
    expect(ls.code, ls.stderr).toBe(0);
    // The paths alone, as a script wants them: no "snapshot … of …" heading.
    expect(ls.stdout.split("\n")).toContain(`${src}/a.txt`);
    expect(ls.stdout).not.toContain("snapshot ");

    const snapshots = await cairn("--quiet", "snapshots", "--host", "web");
    expect(snapshots.stdout).toContain(short(s3));
    expect(snapshots.stdout).not.toMatch(/^3 snapshots$/m);

    const find = await cairn("--quiet", "find", "n.txt");
    expect(find.stdout).toContain(`  ${src}/new/n.txt\n`);
    expect(find.stdout).not.toContain("matches in");

    const diff = await cairn("--quiet", "diff", `${short(s1)}:${src}`, `${short(s2)}:${src}`);
    expect(diff.stdout).toContain("+    /c.txt\n");
    expect(diff.stdout).not.toContain("comparing snapshot");

    const stats = await cairn("--quiet", "stats", short(s1));
    expect(stats.stdout).toContain("Restore size:");
    expect(stats.stderr).toBe("");
  });
});

describe("paths as a shell reads them", () => {
  it("resolves . and .. in snapshot paths and --path, and a trailing slash must name a directory", async () => {
    const ls = await cairn("ls", short(s3), `${src}/new/../new/.`);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split("\n")).toContain(`${src}/new/n.txt`);

    const dump = await cairn("dump", short(s3), `${src}/./new/../a.txt`);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toBe("three\n");
    const notDir = await cairn("dump", short(s3), `${src}/a.txt/`);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toBe(`cairn: ${src}/a.txt/: not a directory in the snapshot\n`);
    const lsNotDir = await cairn("ls", short(s3), `${src}/a.txt/.`);
    expect(lsNotDir.code).toBe(2);
    expect(lsNotDir.stderr).toBe(`cairn: ${src}/a.txt/.: not a directory in the snapshot\n`);
    // Only a directory can be followed by a name or `..`, as a shell has it.
    for (const path of [`${src}/a.txt/nope/..`, `${src}/a.txt/..`]) {
      const r = await cairn("ls", short(s3), path);
      expect(r.stderr).toBe(`cairn: ${path}: not a directory in the snapshot\n`);
    }

    const target = join(t.work, "restored-dots");
    const restore = await cairn("restore", `${short(s3)}:${src}/./new/..`, "--target", target, "--include", `${src}/new`);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readFile(join(target, "new", "n.txt"), "utf8")).toBe("en\n");
    await expect(fs.access(join(target, "a.txt"))).rejects.toThrow();

    const byPath = await cairn("--json", "snapshots", "--path", `${src}/`);
    expect((JSON.parse(byPath.stdout) as { id: string }[]).map((s) => s.id)).toEqual([s1.id, s2.id, s3.id]);
  });

  it("find matches a relative pattern with a slash against the path's last components", async () => {
    const r = await cairn("--json", "find", "new/*.txt", "--snapshot", short(s3));
    expect(r.code, r.stderr).toBe(0);
    expect((jsonLines(r.stdout)[0]!.matches as { path: string }[]).map((m) => m.path)).toEqual([`${src}/new/n.txt`]);
    const none = await cairn("--json", "find", "ew/n.txt", "--snapshot", short(s3));
    expect(none.stdout).toBe("");
    // Patterns are read as paths are: `./`, `//` and `..` resolved.
    for (const pattern of ["./new/n.txt", "new//n.txt", "new/x/../n.txt"]) {
      const r = await cairn("--json", "find", pattern, "--snapshot", short(s3));
      expect((jsonLines(r.stdout)[0]!.matches as { path: string }[]).map((m) => m.path), pattern).toEqual([`${src}/new/n.txt`]);
    }
    // A trailing slash asks for directories only.
    const dirs = await cairn("--json", "find", "new/", "*.txt/", "--snapshot", short(s3));
    expect((jsonLines(dirs.stdout)[0]!.matches as { path: string }[]).map((m) => m.path)).toEqual([`${src}/new`]);
  });
});

describe("times", () => {
  it("are shown in the machine's local time, the clock --at and forget read", async () => {
    const tokyo = (...args: string[]) => runCairn(["-r", t.repoPath, ...args], { env: { TZ: "Asia/Tokyo" } });
    // Tokyo is UTC+9 all year.
    const plus9 = (iso: string) => new Date(Date.parse(iso) + 9 * 3600_000).toISOString().slice(0, 19).replace("T", " ");
    const snapshots = await tokyo("snapshots", "--host", "web");
    expect(snapshots.stdout).toContain(`${short(s1)}  2026-11-16 18:00:00  web`);
    const find = await tokyo("find", "n.txt");
    expect(find.stdout).toContain(`at 2026-11-17 17:00:00 (web)`);
    const listed = jsonLines((await cairn("--json", "ls", short(s3), `${src}/a.txt`)).stdout);
    const mtime = listed.find((r) => r.path === `${src}/a.txt`)!.mtime as string;
    const long = await tokyo("ls", "-l", short(s3), `${src}/a.txt`);
    expect(long.stdout).toContain(` ${plus9(mtime)} ${src}/a.txt`);
  });
});

describe("tag", () => {
  async function listed(...filters: string[]): Promise<{ id: string; tags: string[]; original?: string; hostname: string }[]> {
    const r = await cairn("--json", "snapshots", ...filters);
    return JSON.parse(r.stdout) as { id: string; tags: string[]; original?: string; hostname: string }[];
  }

  it("adds, removes and sets tags on the snapshots the filters select, recording the original", async () => {
    const add = await cairn("tag", "--add", "keep", "--host", "web");
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain("3 snapshots changed, 0 already as asked");
    const web = await listed("--host", "web");
    expect(web.map((s) => s.tags)).toEqual([["daily", "keep"], ["keep"], ["keep"]]);
    expect(web.map((s) => s.original)).toEqual([s1.id, s2.id, s3.id]);
    expect((await listed("--host", "db"))[0]!.tags).toEqual(["db"]);

    const remove = await cairn("tag", "--remove", "daily", "--tag", "daily");
    expect(remove.stdout).toContain("1 snapshot changed");
    expect((await listed("--tag", "daily")).length).toBe(0);

    const newest = (await listed("--host", "web")).at(-1)!;
    const set = await cairn("--json", "tag", "--set", "x,y", newest.id.slice(0, 10));
    const records = jsonLines(set.stdout);
    expect(records[0]).toMatchObject({ message_type: "changed", old_snapshot_id: newest.id, tags: ["x", "y"] });
    expect((await listed("--tag", "x,y")).map((s) => s.original)).toEqual([s3.id]);
    // Spaces around the commas mean nothing, in filters as in tag and backup.
    expect((await listed("--tag", " x , y ")).map((s) => s.original)).toEqual([s3.id]);
  });

  it("refuses to do nothing or to mix --set with --add", async () => {
    expect((await cairn("tag", "latest")).code).toBe(2);
    expect((await cairn("tag", "--set", "a", "--add", "b")).code).toBe(2);
  });
});

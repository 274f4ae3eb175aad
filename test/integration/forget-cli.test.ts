import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { listSnapshots } from "../../src/store/snapshot/snapshot-store.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { runCairn } from "../support/cli.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

const ENV = { TZ: "UTC" };

interface Fixture {
  f: TestRepository;
  byName: Record<string, StoredSnapshot>;
  /** A copy of the repository for each test that changes it. */
  fresh(): Promise<string>;
}

/**
 * Host "web" backs up /srv (daily-ish, across three months) and host "db" backs up /var/db;
 * names are the snapshot times.
 */
async function createFixture(): Promise<Fixture> {
  const f = await createTestRepository();
  const srv = join(f.work, "srv");
  const db = join(f.work, "db");
  await writeTree(srv, { "index.html": "<h1>hi</h1>" });
  await writeTree(db, { "dump.sql": "select 1;" });
  const byName: Record<string, StoredSnapshot> = {};
  const web = ["2024-01-15T02:00", "2024-02-10T02:00", "2024-03-01T02:00", "2024-03-02T02:00", "2024-03-03T02:00", "2024-03-03T14:00"];
  for (const time of web) byName[time] = await backup(f.repo, [srv], { time: new Date(`${time}:00Z`), hostname: "web", tags: time.startsWith("2024-01") ? ["yearly"] : [] });
  for (const time of ["2024-03-01T05:00", "2024-03-02T05:00"]) byName[`db ${time}`] = await backup(f.repo, [db], { time: new Date(`${time}:00Z`), hostname: "db" });
  await f.repo.close();
  let copies = 0;
  return {
    f,
    byName,
    async fresh() {
      const dir = join(f.work, `copy-${copies++}`);
      await cp(f.repoPath, dir, { recursive: true });
      return dir;
    },
  };
}

async function remaining(repo: string): Promise<string[]> {
  return (await listSnapshots(new LocalBackend(repo))).map((s) => s.id).sort();
}

let fx: Fixture;
const id = (name: string) => fx.byName[name]!.id;
const short = (name: string) => id(name).slice(0, 8);
const allIds = () => Object.values(fx.byName).map((s) => s.id).sort();
const without = (...names: string[]) => allIds().filter((x) => !names.map(id).includes(x));

beforeAll(async () => {
  fx = await createFixture();
});
afterAll(async () => {
  await fx.f.repo.close().catch(() => undefined);
  await rm(fx.f.work, { recursive: true, force: true });
});

describe("cairn forget", () => {
  it("--dry-run lists kept snapshots with their reasons and the removed ones, and changes nothing", async () => {
    const r = await runCairn(["-r", fx.f.repoPath, "forget", "--keep-daily", "2", "--keep-monthly", "2", "--host", "web", "--dry-run"], { env: ENV });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("applying policy: keep 2 daily, 2 monthly snapshots");
    expect(lines).toContain(`snapshots of host [web], paths [${join(fx.f.work, "srv")}]:`);
    expect(lines).toContain("keep 3 snapshots:");
    const row = (name: string) => lines.find((l) => l.startsWith(short(name))) ?? "";
    expect(row("2024-03-03T14:00")).toMatch(/^\w{8}\s+2024-03-03 14:00:00\s+web\s+daily snapshot, monthly snapshot\s+\//);
    expect(row("2024-03-02T02:00")).toMatch(/\s+daily snapshot\s+\//);
    expect(row("2024-02-10T02:00")).toMatch(/\s+monthly snapshot\s+\//);
    expect(lines).toContain("remove 3 snapshots:");
    for (const name of ["2024-03-03T02:00", "2024-03-01T02:00", "2024-01-15T02:00"]) expect(row(name)).toMatch(/^\w{8}\s+2024-\d\d-\d\d \d\d:00:00\s+web\s+(yearly\s+)?\//);
    expect(lines).toContain("would remove 3 snapshots (dry run: nothing was changed)");
    expect(await remaining(fx.f.repoPath)).toEqual(allIds());
  });

  it("removes what the policy does not keep, per host and path set, and reports it as JSON", async () => {
    const repo = await fx.fresh();
    const r = await runCairn(["-r", repo, "--json", "forget", "--keep-last", "1", "--keep-tag", "yearly"], { env: ENV });
    expect(r.code).toBe(0);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const groups = records.filter((x) => x.message_type === "group");
    expect(groups.map((g) => (g.group as { hostname: string }).hostname)).toEqual(["db", "web"]);
    const web = groups[1] as { keep: { id: string; reasons: string[] }[]; remove: { id: string }[] };
    expect(web.keep).toEqual([
      expect.objectContaining({ id: id("2024-03-03T14:00"), reasons: ["last snapshot"] }),
      expect.objectContaining({ id: id("2024-01-15T02:00"), reasons: ["has tags [yearly]"] }),
    ]);
    expect(web.remove).toHaveLength(4);
    expect(records.at(-1)).toEqual({ message_type: "forget_summary", dry_run: false, kept: 3, removed: 5 });
    expect(await remaining(repo)).toEqual([id("2024-03-03T14:00"), id("2024-01-15T02:00"), id("db 2024-03-02T05:00")].sort());
  });

  it("considers only snapshots that pass --host/--tag/--path", async () => {
    const repo = await fx.fresh();
    const r = await runCairn(["-r", repo, "forget", "--keep-last", "1", "--host", "db"], { env: ENV });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed 1 snapshot\n");
    expect(await remaining(repo)).toEqual(without("db 2024-03-01T05:00"));
    const byPath = await runCairn(["-r", repo, "forget", "--keep-last", "2", "--path", join(fx.f.work, "srv")], { env: ENV });
    expect(byPath.code).toBe(0);
    expect(await remaining(repo)).toEqual([id("2024-03-03T14:00"), id("2024-03-03T02:00"), id("db 2024-03-02T05:00")].sort());
  });

  it("--group-by decides which snapshots a policy compares", async () => {
    const repo = await fx.fresh();
    // One group of everything: only the newest snapshot overall survives.
    const r = await runCairn(["-r", repo, "forget", "--keep-last", "1", "--group-by", ""], { env: ENV });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("snapshots of");
    expect(await remaining(repo)).toEqual([id("2024-03-03T14:00")]);
  });

  it("removes exactly the snapshots named by id or prefix", async () => {
    const repo = await fx.fresh();
    const r = await runCairn(["-r", repo, "forget", id("2024-02-10T02:00"), short("db 2024-03-01T05:00")], { env: ENV });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed 2 snapshots\n");
    expect(await remaining(repo)).toEqual(without("2024-02-10T02:00", "db 2024-03-01T05:00"));
  });

  it("refuses to remove every snapshot of a group, or to run without a policy, unless told so", async () => {
    const repo = await fx.fresh();
    const emptying = await runCairn(["-r", repo, "forget", "--keep-tag", "yearly"], { env: ENV });
    expect(emptying.code).toBe(2);
    expect(emptying.stderr).toMatch(/^cairn: the policy would remove every snapshot of the group host \[db\], paths \[.*\]; nothing was removed .*--unsafe-allow-remove-all\)\n$/);
    const none = await runCairn(["-r", repo, "forget"], { env: ENV });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no retention policy given");
    const both = await runCairn(["-r", repo, "forget", short("2024-02-10T02:00"), "--keep-last", "1"], { env: ENV });
    expect(both.code).toBe(2);
    expect(await remaining(repo)).toEqual(allIds());

    const allowed = await runCairn(["-r", repo, "forget", "--keep-tag", "yearly", "--unsafe-allow-remove-all"], { env: ENV });
    expect(allowed.code).toBe(0);
    expect(await remaining(repo)).toEqual([id("2024-01-15T02:00")]);
  });

  it("takes restic's short options and -1 for unlimited, so a restic policy carries over unchanged", async () => {
    const long = await runCairn(["-r", fx.f.repoPath, "--json", "forget", "--dry-run", "--keep-last", "2", "--keep-hourly", "3", "--keep-daily", "unlimited", "--keep-weekly", "2", "--keep-monthly", "4", "--keep-yearly", "1"], { env: ENV });
    const short = await runCairn(["-r", fx.f.repoPath, "--json", "forget", "--dry-run", "-l", "2", "-H", "3", "-d", "-1", "-w", "2", "-m", "4", "-y", "1"], { env: ENV });
    expect(long.code, long.stderr).toBe(0);
    expect(short.code, short.stderr).toBe(0);
    expect(long.stdout).toContain("forget_summary");
    expect(short.stdout).toBe(long.stdout);
  });

  it("rejects malformed policy values", async () => {
    for (const args of [["--keep-last", "-2"], ["--keep-within", "3x"], ["--group-by", "color"]]) {
      const r = await runCairn(["-r", fx.f.repoPath, "forget", ...args], { env: ENV });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^cairn: /);
    }
  });
});

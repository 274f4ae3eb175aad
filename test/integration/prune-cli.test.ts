import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { RepositoryLock } from "../../src/store/lock/repository-lock.js";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { manifest } from "../support/test-data.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let src: string;

beforeEach(async () => {
  work = await tempDir("cairn-prune-cli-");
  repo = join(work.path, "repo");
  src = join(work.path, "src");
  await fs.mkdir(src);
  await cairn(["init", "--pack-size", "1M", "--chunk-min", "1K", "--chunk-avg", "4K", "--chunk-max", "16K"]);
});
afterEach(async () => {
  await work.cleanup();
});

async function cairn(args: string[]): Promise<string> {
  const r = await runCairn(["-r", repo, ...args]);
  expect(r.code, `cairn ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function listing(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.parentPath.includes("index.db") && !e.parentPath.includes("locks")).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

async function packIds(): Promise<string[]> {
  const entries = await fs.readdir(join(repo, "data"), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && !e.name.startsWith(".")).map((e) => e.name).sort();
}

/** Two generations of 200 files of 20 kB; the second changes two thirds of them. */
async function twoGenerations(): Promise<Record<string, string>> {
  for (let i = 0; i < 200; i++) await fs.writeFile(join(src, `f${i}`), randomBytes(20_000));
  await cairn(["backup", src, "-q"]);
  for (let i = 0; i < 200; i++) if (i % 3 !== 0) await fs.writeFile(join(src, `f${i}`), randomBytes(20_000));
  await cairn(["backup", src, "-q"]);
  return manifest(src);
}

describe("cairn prune", () => {
  it("forget --prune frees the space; check --read-data passes and the kept snapshot restores byte-identical", async () => {
    const expected = await twoGenerations();
    const out = await cairn(["forget", "--keep-last", "1", "--prune", "--max-unused", "0%"]);
    const lines = out.split("\n");
    expect(lines).toContain("removed 1 snapshot");
    expect(out).toMatch(/^1 snapshot uses? \d+ blobs \([\d.]+ MB stored\); \d+ packs hold [\d.]+ MB, [\d.]+ (MB|KB) of it unused$/m);
    expect(out).toMatch(/^repack [1-9]\d* packs? \([\d.]+ MB\) into [1-9]\d* new packs? \([\d.]+ (MB|KB)\)$/m);
    expect(out).toMatch(/^unused data left in packs that stay: 0 B$/m);
    expect(out).toMatch(/^repository: [\d.]+ MB before, [\d.]+ MB after: [\d.]+ MB freed$/m);

    expect(await cairn(["check", "--read-data"])).toContain("no errors found");
    const target = join(work.path, "restore");
    await cairn(["restore", "latest", "--target", target, "-q"]);
    expect(await manifest(join(target, src))).toEqual(expected);

    const again = JSON.parse((await cairn(["--json", "prune"])).trim()) as Record<string, number>;
    expect(again).toMatchObject({ message_type: "prune_summary", packs_removed: 0, packs_repacked: 0, unused_bytes: 0 });
    expect(again.repository_bytes_after).toBe(again.repository_bytes_before);
  });

  it("--dry-run reports what would be freed and changes nothing", async () => {
    await twoGenerations();
    const untouched = await listing(repo);
    // forget --prune --dry-run reports on the repository as it would be after forgetting.
    const combined = await cairn(["forget", "--keep-last", "1", "--prune", "--dry-run"]);
    expect(combined).toContain("would remove 1 snapshot (dry run: nothing was changed)");
    expect(combined).toMatch(/^1 snapshot uses \d+ blobs/m);
    expect(await listing(repo)).toEqual(untouched);
    await cairn(["forget", "--keep-last", "1"]);
    const before = await listing(repo);
    const text = await cairn(["prune", "--dry-run"]);
    expect(text).toMatch(/^would remove \d+ unused packs? /m);
    expect(text).toMatch(/^would repack \d+ packs? \([\d.]+ MB\) keeping about [\d.]+ (MB|KB) of used data$/m);
    expect(text).toMatch(/^repository: [\d.]+ MB now, about [\d.]+ MB after: about [\d.]+ MB would be freed \(dry run: nothing was changed\)$/m);
    const dry = JSON.parse((await cairn(["--json", "prune", "--dry-run"])).trim()) as Record<string, number | boolean>;
    expect(dry.dry_run).toBe(true);
    expect(dry.repository_bytes_after).toBeLessThan(dry.repository_bytes_before as number);
    expect(await listing(repo)).toEqual(before);

    const forgetDry = await cairn(["forget", "--keep-last", "1", "--prune", "--dry-run"]);
    expect(forgetDry).toContain("would remove 0 snapshots (dry run: nothing was changed)");
    expect(await listing(repo)).toEqual(before);
  });

  it("removes the packs a killed backup left unindexed", async () => {
    for (let i = 0; i < 40; i++) await fs.writeFile(join(src, `big${i}`), randomBytes(1_000_000));
    const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "backup", src], { stdio: "ignore" });
    const exited = once(child, "exit");
    while (child.exitCode === null && (await packIds()).length < 3) await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGKILL");
    expect((await exited)[1]).toBe("SIGKILL");
    const left = await packIds();
    expect(left.length).toBeGreaterThanOrEqual(3);

    const summary = JSON.parse((await cairn(["--json", "prune"])).trim()) as Record<string, number>;
    expect(summary.packs_unindexed_removed).toBeGreaterThanOrEqual(3);
    const remaining = await packIds();
    expect(remaining.filter((p) => left.includes(p))).toHaveLength(left.length - summary.packs_unindexed_removed!);
    const check = await runCairn(["-r", repo, "check"]);
    expect(check.code).toBe(0);
    expect(check.stderr).not.toMatch(/in no index/);
  });

  it("refuses while an index file is damaged (its packs would look unindexed), deleting nothing; after repair index it runs", async () => {
    const files = await twoGenerations();
    const snapshots = JSON.parse(await cairn(["--json", "snapshots"])) as { id: string }[];
    await cairn(["forget", snapshots[0]!.id]);
    const indexFiles = await fs.readdir(join(repo, "index"));
    const damaged = join(repo, "index", indexFiles[0]!);
    const bytes = await fs.readFile(damaged);
    bytes[bytes.length >> 1]! ^= 0xff;
    await fs.writeFile(damaged, bytes);
    const before = await listing(repo);

    const refused = await runCairn(["-r", repo, "prune", "--max-unused", "0"]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^cairn: index file ${indexFiles[0]!.slice(0, 8)} is damaged \\(.*\\); nothing was deleted: run cairn repair index first$`, "m"));
    expect(await listing(repo)).toEqual(before);

    await cairn(["repair", "index"]);
    await cairn(["prune", "--max-unused", "0"]);
    expect((await runCairn(["-r", repo, "check", "--read-data"])).code).toBe(0);
    const target = join(work.path, "restored");
    await cairn(["restore", "latest", "--target", target]);
    expect(await manifest(join(target, src))).toEqual(files);
  });

  it("130: SIGINT stops a prune between packs repacked, deleting nothing; the next prune completes", async () => {
    // 30 packs of 1 MB, two thirds of each to be dropped: long enough a repack to interrupt.
    for (let i = 0; i < 150; i++) await fs.writeFile(join(src, `f${i}`), randomBytes(200_000));
    await cairn(["backup", src, "-q"]);
    for (let i = 0; i < 150; i++) if (i % 3 !== 0) await fs.writeFile(join(src, `f${i}`), randomBytes(200_000));
    await cairn(["backup", src, "-q"]);
    const expected = await manifest(src);
    await cairn(["forget", "--keep-last", "1"]);
    const before = await listing(repo);

    const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "prune", "--max-unused", "0%"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let interrupted = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      // Phases are told on stderr: once repacking starts, interrupt.
      if (!interrupted && /^repacking \d+ pack/m.test(stderr)) interrupted = child.kill("SIGINT");
    });
    const [code] = (await once(child, "close")) as [number | null];
    expect(code, stdout).toBe(130);
    expect(stderr).toMatch(/^repacking \d+ pack\(s\)\ncairn: interrupted\n$/m);
    expect(stderr).not.toMatch(/deleting/);
    expect(await fs.readdir(join(repo, "locks"))).toEqual([]);
    const after = new Set(await listing(repo));
    for (const file of before) expect(after.has(file), file).toBe(true);
    expect((await runCairn(["-r", repo, "check"])).code).toBe(0);

    const out = await cairn(["prune", "--max-unused", "0%"]);
    expect(out).toMatch(/^unused data left in packs that stay: 0 B$/m);
    expect(await cairn(["check", "--read-data"])).toContain("no errors found");
    const target = join(work.path, "restore");
    await cairn(["restore", "latest", "--target", target, "-q"]);
    expect(await manifest(join(target, src))).toEqual(expected);
  });

  it("needs the exclusive lock", async () => {
    await twoGenerations();
    const lock = await RepositoryLock.acquire(new LocalBackend(repo), { exclusive: false, waitMs: 0 });
    try {
      const r = await runCairn(["-r", repo, "prune"]);
      expect(r.code).toBe(11);
      expect(r.stderr).toMatch(/^cairn: repository is locked/);
      const forget = await runCairn(["-r", repo, "forget", "--keep-last", "1"]);
      expect(forget.code).toBe(11);
      // A dry run only reads: a shared lock is enough.
      expect((await runCairn(["-r", repo, "prune", "--dry-run"])).code).toBe(0);
    } finally {
      await lock.release();
    }
  });
});

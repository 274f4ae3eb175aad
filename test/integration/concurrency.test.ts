// Two `cairn backup` processes started at the same moment into one repository both end well:
// they share the repository lock, one waits for the index database (saying who holds it), and
// the repository checks clean with both snapshots restoring byte-identical.
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { parseJsonLines, readTree, seededBytes } from "./damage-fixtures.js";

const MiB = 1024 * 1024;
let work: { path: string; cleanup: () => Promise<void> };
let repo: string;

beforeAll(async () => {
  work = await tempDir("cairn-concurrency-");
  repo = join(work.path, "repo");
  expect((await runCairn(["-r", repo, "init", "--pack-size", "1M"])).code).toBe(0);
});

afterAll(async () => {
  await work?.cleanup();
});

function backup(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "--retry-lock", "2m", "--json", "backup", dir], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return once(child, "close").then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

describe("two backups started at once", () => {
  it("both succeed, one waiting for the other; the repository checks and both snapshots restore", async () => {
    const dirs = [join(work.path, "one"), join(work.path, "two")];
    for (const [i, dir] of dirs.entries()) {
      await fs.mkdir(join(dir, "sub"), { recursive: true });
      // Enough data that each backup lasts well beyond the jitter of two processes starting.
      for (let f = 0; f < 4; f++) await fs.writeFile(join(dir, `f${f}.bin`), seededBytes(12 * MiB, `${i}-${f}`));
      // Some content in common, so the two share blobs.
      await fs.writeFile(join(dir, "sub", "common.bin"), seededBytes(2 * MiB, "common"));
    }
    const results = await Promise.all(dirs.map((dir) => backup(dir)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    // The holder is named by its subcommand alone: arguments can hold credentials.
    const waits = results.filter((r) => /waiting for the index database, held by process \d+ on .* \(cairn backup, since /.test(r.stderr));
    expect(waits).toHaveLength(1);

    const check = await runCairn(["-r", repo, "check", "--read-data"]);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain("checked 2 snapshots");
    expect(check.stdout).toContain("no errors found");

    for (const [i, r] of results.entries()) {
      const snapshot = parseJsonLines(r.stdout).find((l) => l.message_type === "summary")!.snapshot_id as string;
      const target = join(work.path, `restore-${i}`);
      const restore = await runCairn(["-r", repo, "restore", snapshot, "--target", target]);
      expect(restore.code, restore.stderr).toBe(0);
      const expected = await readTree(dirs[i]!);
      const restored = await readTree(join(target, dirs[i]!));
      expect([...restored.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [path, bytes] of expected) expect(restored.get(path)!.equals(bytes), path).toBe(true);
    }
  });
});

// A file whose bytes are exactly a directory listing's serialization (an empty directory's is
// `{"nodes":[]}`) has that listing's id: the repository stores the bytes once, as whichever
// type came first, and that one copy must serve both. check, repair snapshots, prune and
// restore must all treat the repository as the healthy one it is, in either order.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { parseJsonLines } from "./damage-fixtures.js";

const EMPTY_TREE = '{"nodes":[]}';
let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

beforeEach(async () => {
  work = await tempDir("cairn-shared-id-");
  repo = join(work.path, "repo");
  await fs.mkdir(join(work.path, "file-side"));
  await fs.writeFile(join(work.path, "file-side", "config.json"), EMPTY_TREE);
  await fs.mkdir(join(work.path, "dir-side", "empty"), { recursive: true });
  expect((await cairn("init")).code).toBe(0);
});
afterEach(async () => {
  await work.cleanup();
});

async function backup(side: string): Promise<string> {
  const result = await cairn("--json", "backup", join(work.path, side));
  expect(result.code, result.stderr).toBe(0);
  return parseJsonLines(result.stdout).find((m) => m.message_type === "summary")!.snapshot_id as string;
}

async function expectHealthy(): Promise<void> {
  const check = await cairn("check", "--read-data");
  expect(check.code, check.stdout + check.stderr).toBe(0);
  expect(check.stdout).toContain("no errors found");
  const repair = await cairn("repair", "snapshots", "--dry-run");
  expect(repair.code, repair.stderr).toBe(0);
  expect(repair.stdout).toMatch(/^0 of [12] snapshots would be repaired/m);
}

async function expectRestores(snapshot: string, side: string): Promise<void> {
  const target = join(work.path, `restore-${snapshot}`);
  const result = await cairn("restore", snapshot, "--target", target);
  expect(result.code, result.stderr).toBe(0);
  if (side === "file-side") expect(await fs.readFile(join(target, work.path, side, "config.json"), "utf8")).toBe(EMPTY_TREE);
  else expect(await fs.readdir(join(target, work.path, side, "empty"))).toEqual([]);
}

describe.each([
  ["the file first", ["file-side", "dir-side"]],
  ["the empty directory first", ["dir-side", "file-side"]],
])("a file holding exactly an empty directory's listing, %s", (_, sides) => {
  it("checks clean, prunes either snapshot away and restores the other", async () => {
    const [first, second] = [await backup(sides[0]!), await backup(sides[1]!)];
    await expectHealthy();
    await expectRestores(first, sides[0]!);
    await expectRestores(second, sides[1]!);

    // The snapshot that stored the shared bytes goes: the other still needs them.
    const forget = await cairn("forget", first, "--prune");
    expect(forget.code, forget.stderr).toBe(0);
    await expectHealthy();
    await expectRestores(second, sides[1]!);
  });
});

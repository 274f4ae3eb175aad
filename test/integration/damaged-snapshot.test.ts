// One damaged snapshot document must not stop the repository: listings leave it out with a
// warning that says how to remove it, backups go on, prune refuses to delete anything while it
// cannot know what the document referenced, and `cairn forget ID` removes it.
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { parseJsonLines } from "./damage-fixtures.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let src: string;
const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

beforeEach(async () => {
  work = await tempDir("cairn-damaged-snapshot-");
  repo = join(work.path, "repo");
  src = join(work.path, "src");
  await fs.mkdir(src);
  await fs.writeFile(join(src, "a"), "first\n");
  expect((await cairn("init")).code).toBe(0);
});
afterEach(async () => {
  await work.cleanup();
});

async function backup(): Promise<string> {
  const result = await cairn("--json", "backup", src);
  expect(result.code, result.stderr).toBe(0);
  return parseJsonLines(result.stdout).find((m) => m.message_type === "summary")!.snapshot_id as string;
}

// The second is stored under its own hash, as a writer would have named it: only parsing fails.
it.each([
  ["cut short", (bytes: Buffer) => bytes.subarray(0, 50), false],
  ["with no valid time", () => Buffer.from(JSON.stringify({ time: "never", tree: "0".repeat(64), paths: [], hostname: "h", username: "u", tags: [] })), true],
])("a snapshot document %s is left out, blocks only prune, and forget removes it", async (_, damage, rename) => {
  const damaged = await backup();
  await fs.writeFile(join(src, "b"), "second\n");
  const good = await backup();
  const file = join(repo, "snapshots", damaged);
  const bytes = damage(await fs.readFile(file));
  const damagedId = rename ? createHash("sha256").update(bytes).digest("hex") : damaged;
  await fs.rm(file);
  await fs.writeFile(join(repo, "snapshots", damagedId), bytes);
  const short = damagedId.slice(0, 8);
  const warning = new RegExp(`^warning: snapshot ${short} is unreadable and was left out \\(.+\\); cairn forget ${short} removes it$`, "m");

  const list = await cairn("--json", "snapshots");
  expect(list.code, list.stderr).toBe(0);
  expect((JSON.parse(list.stdout) as { id: string }[]).map((s) => s.id)).toEqual([good]);
  expect(list.stderr).toMatch(warning);

  await fs.writeFile(join(src, "c"), "third\n");
  const third = await cairn("backup", src);
  expect(third.code, third.stderr).toBe(0);
  expect(third.stderr).toMatch(warning);

  const dataBefore = await fs.readdir(join(repo, "data"), { recursive: true });
  const prune = await cairn("prune");
  expect(prune.code).not.toBe(0);
  expect(prune.stderr).toMatch(new RegExp(`^cairn: snapshot ${damagedId}.*nothing was deleted: remove it with cairn forget ID`, "m"));
  expect(await fs.readdir(join(repo, "data"), { recursive: true })).toEqual(dataBefore);

  // --quiet keeps the findings: they are what check was asked for.
  const quietCheck = await cairn("-q", "check");
  expect(quietCheck.code).not.toBe(0);
  expect(quietCheck.stdout).toMatch(new RegExp(`^error: .*${short}`, "m"));

  const forget = await cairn("forget", short);
  expect(forget.code, forget.stderr).toBe(0);
  expect(forget.stdout).toContain(`remove unreadable snapshot ${short}`);
  expect(await fs.readdir(join(repo, "snapshots"))).not.toContain(damagedId);
  expect((await cairn("prune")).code).toBe(0);
  const check = await cairn("check", "--read-data");
  expect(check.code, check.stdout).toBe(0);
  const restore = await cairn("restore", "latest", "--target", join(work.path, "r"));
  expect(restore.code, restore.stderr).toBe(0);
  expect(await fs.readFile(join(work.path, "r", src, "c"), "utf8")).toBe("third\n");
});

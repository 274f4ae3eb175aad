// A repository kept inside the tree it backs up: restoring that tree (with --delete, or from a
// snapshot that holds the repository itself) must leave the repository whole.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { expectOk } from "../support/cli-expect.js";

let work: { path: string; cleanup: () => Promise<void> } | undefined;
let srv: string;
let repo: string;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

/** Every file of the repository with its size: what must not change. */
async function repositoryFiles(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const dir of ["config", "data", "index", "snapshots"]) {
    const path = join(repo, dir);
    const st = await fs.stat(path);
    if (st.isFile()) out[dir] = st.size;
    else for (const entry of await fs.readdir(path, { recursive: true, withFileTypes: true })) if (entry.isFile()) out[join(entry.parentPath, entry.name)] = (await fs.stat(join(entry.parentPath, entry.name))).size;
  }
  return out;
}

beforeEach(async () => {
  await work?.cleanup();
  work = await tempDir("cairn-restore-guard-");
  srv = join(work.path, "srv");
  repo = join(srv, "backup");
  await fs.mkdir(join(srv, "app"), { recursive: true });
  await fs.writeFile(join(srv, "app/conf"), "v1\n");
  expectOk(await cairn("init"));
});

afterAll(async () => {
  await work?.cleanup();
});

describe("restore with the repository inside the target", () => {
  it("--delete removes what the snapshot lacks but never the repository, and a dry run does not offer to", async () => {
    expectOk(await cairn("backup", srv, "--exclude", repo));
    await fs.writeFile(join(srv, "app/conf"), "v2\n");
    await fs.writeFile(join(srv, "app/stray"), "not in the snapshot\n");
    const before = await repositoryFiles();
    const dry = expectOk(await cairn("restore", `latest:${srv}`, "--target", srv, "--delete", "--dry-run"));
    expect(dry.stdout).toContain(`would delete ${srv}/app/stray`);
    expect(dry.stdout).not.toContain(`delete ${repo}`);
    const result = expectOk(await cairn("restore", `latest:${srv}`, "--target", srv, "--delete"));
    expect(result.stdout).toContain(`delete ${srv}/app/stray`);
    expect(result.stdout).not.toContain(`delete ${repo}`);
    expect(await fs.readFile(join(srv, "app/conf"), "utf8")).toBe("v1\n");
    await expect(fs.access(join(srv, "app/stray"))).rejects.toThrow();
    expect(await repositoryFiles()).toEqual(before);
    expect(expectOk(await cairn("check", "--read-data")).stdout).toContain("no errors found");
  });

  it("a snapshot that holds the repository restores everything else and says it left the repository alone", async () => {
    expectOk(await cairn("backup", srv));
    await fs.writeFile(join(srv, "app/conf"), "v2\n");
    expectOk(await cairn("backup", srv));
    const before = await repositoryFiles();
    const result = await cairn("restore", `latest:${srv}`, "--target", srv, "--delete");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${repo}: not restored: ${repo} is the repository being read, or inside it`);
    expect(result.stderr).not.toMatch(/internal error/);
    expect(await fs.readFile(join(srv, "app/conf"), "utf8")).toBe("v2\n");
    expect(await repositoryFiles()).toEqual(before);
    expect(expectOk(await cairn("check", "--read-data")).stdout).toContain("no errors found");
  });

  it("refuses a target inside the repository in one line, creating nothing", async () => {
    expectOk(await cairn("backup", join(srv, "app")));
    const target = join(repo, "restored");
    const result = await cairn("restore", "latest", "--target", target);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n").at(-1)).toBe(`cairn: cannot restore into ${target}: it is inside the repository`);
    expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
    await expect(fs.access(target)).rejects.toThrow();
  });
});

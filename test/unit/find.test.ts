// find: glob patterns on names and on whole paths, over several snapshots.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { PathFinder } from "../../src/find/path-finder.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { backup, createTestRepository, writeTree, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let first: StoredSnapshot;
let second: StoredSnapshot;

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  await writeTree(src, { "notes.txt": "n", "README.TXT": "r", "photos/cat.jpg": "c", "photos/old/dog.jpg": "d", "code/main.ts": "m", ".hidden/key.txt": "k" });
  first = await backup(t.repo, [src]);
  await writeTree(src, { "photos/new/bird.jpg": "b" });
  await fs.rm(join(src, "notes.txt"));
  second = await backup(t.repo, [src]);
});

afterAll(async () => {
  await t?.cleanup();
});

async function find(snapshot: StoredSnapshot, patterns: string[], ignoreCase = false): Promise<string[]> {
  const finder = new PathFinder(t.repo, patterns, { ignoreCase });
  const paths: string[] = [];
  for await (const m of finder.find(snapshot.tree)) paths.push(m.path.slice(src.length));
  return paths;
}

describe("PathFinder", () => {
  it("matches a pattern without a slash against names at any depth, dot files included", async () => {
    expect(await find(first, ["*.jpg"])).toEqual(["/photos/cat.jpg", "/photos/old/dog.jpg"]);
    expect(await find(first, ["*.txt"])).toEqual(["/.hidden/key.txt", "/notes.txt"]);
    expect(await find(second, ["*.jpg"])).toEqual(["/photos/cat.jpg", "/photos/new/bird.jpg", "/photos/old/dog.jpg"]);
  });

  it("matches a pattern with a slash against the whole path", async () => {
    expect(await find(first, [`${src}/photos/*`])).toEqual(["/photos/cat.jpg", "/photos/old"]);
    expect(await find(first, [`${src}/photos/**/*.jpg`])).toEqual(["/photos/cat.jpg", "/photos/old/dog.jpg"]);
  });

  it("takes several patterns, and ignores case when asked", async () => {
    expect(await find(first, ["*.ts", "dog.*"])).toEqual(["/code/main.ts", "/photos/old/dog.jpg"]);
    expect(await find(first, ["*.txt"], true)).toEqual(["/.hidden/key.txt", "/README.TXT", "/notes.txt"]);
  });

  it("finds nothing where nothing matches", async () => {
    expect(await find(first, ["bird.jpg"])).toEqual([]);
    expect(await find(second, ["bird.jpg"])).toEqual(["/photos/new/bird.jpg"]);
  });

  it("refuses an empty or overlong pattern as a usage error", () => {
    expect(() => new PathFinder(t.repo, ["*.jpg", ""])).toThrow(UsageError);
    expect(() => new PathFinder(t.repo, ["a".repeat(70_000)])).toThrow(UsageError);
  });
});

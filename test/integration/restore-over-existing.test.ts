// Restoring into a target that already holds files: a file there is replaced, never written
// through (not a hard link to another name in the target or outside it, not an inode keeping
// attributes the snapshot lacks), the overwrite policy holds for every name of a hard-linked
// file, and a directory standing where a file goes is reported for that file while the rest is
// restored.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { readXattrs, writeXattrs } from "../../src/platform/xattrs.js";
import { runCairn, tempDir } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let src: string;
let target: string;
const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

beforeEach(async () => {
  work = await tempDir("cairn-restore-existing-");
  repo = join(work.path, "repo");
  src = join(work.path, "src");
  target = join(work.path, "target");
  await fs.mkdir(src);
  expect((await cairn("init")).code).toBe(0);
});
afterEach(async () => {
  await work.cleanup();
});

async function backup(): Promise<void> {
  const result = await cairn("backup", src);
  expect(result.code, result.stderr).toBe(0);
}

async function restore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cairn("restore", "latest", "--target", target, ...args);
}

const restored = (name: string) => join(target, src, name);

it("replaces a file that has other names instead of writing through them", async () => {
  await fs.writeFile(join(src, "a"), "shared\n");
  await fs.link(join(src, "a"), join(src, "b"));
  await backup();
  expect((await restore()).code).toBe(0);
  expect((await fs.stat(restored("a"))).nlink).toBe(2);

  // The next snapshot has them as two separate files.
  await fs.rm(join(src, "b"));
  await fs.writeFile(join(src, "a"), "a changed\n");
  await fs.writeFile(join(src, "b"), "b is now its own file\n");
  await backup();
  const result = await restore();
  expect(result.code, result.stderr).toBe(0);
  expect(await fs.readFile(restored("a"), "utf8")).toBe("a changed\n");
  expect(await fs.readFile(restored("b"), "utf8")).toBe("b is now its own file\n");
  expect((await fs.stat(restored("a"))).nlink).toBe(1);
  expect((await fs.stat(restored("b"))).nlink).toBe(1);
});

it("never writes into a file outside the target that a target file is linked to", async () => {
  await fs.writeFile(join(src, "f"), "from the snapshot\n");
  await backup();
  const outside = join(work.path, "outside");
  await fs.writeFile(outside, "the user's own file\n");
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.link(outside, restored("f"));
  const result = await restore();
  expect(result.code, result.stderr).toBe(0);
  expect(await fs.readFile(restored("f"), "utf8")).toBe("from the snapshot\n");
  expect(await fs.readFile(outside, "utf8")).toBe("the user's own file\n");
});

it("keeps every existing name of a hard-linked file under --overwrite never, and links only to a name it wrote", async () => {
  await fs.writeFile(join(src, "a"), "one\n");
  await fs.link(join(src, "a"), join(src, "b"));
  await backup();

  // The second name exists: it stays; the first is restored.
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("b"), "MINE\n");
  let result = await restore("--overwrite", "never");
  expect(result.code, result.stderr).toBe(0);
  expect(await fs.readFile(restored("b"), "utf8")).toBe("MINE\n");
  expect(await fs.readFile(restored("a"), "utf8")).toBe("one\n");

  // The first name exists: it stays, and the second is not made a link to it.
  await fs.rm(target, { recursive: true });
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("a"), "USERS\n");
  result = await restore("--overwrite", "never");
  expect(result.code, result.stderr).toBe(0);
  expect(await fs.readFile(restored("a"), "utf8")).toBe("USERS\n");
  expect(await fs.readFile(restored("b"), "utf8")).toBe("one\n");
  expect((await fs.stat(restored("a"))).ino).not.toBe((await fs.stat(restored("b"))).ino);
});

it("reports a directory standing where a file goes and restores everything else", async () => {
  for (const name of ["a", "c", "d"]) await fs.writeFile(join(src, name), `${name}\n`);
  await fs.link(join(src, "d"), join(src, "e"));
  await backup();
  await fs.mkdir(join(restored("c"), "sub"), { recursive: true });
  const result = await restore();
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`${src}/c: a directory is in the way`));
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(await fs.readdir(restored("c"))).toEqual(["sub"]);
  for (const name of ["a", "d", "e"]) expect(await fs.readFile(restored(name), "utf8")).toBe(`${name === "e" ? "d" : name}\n`);
  expect((await fs.stat(restored("e"))).ino).toBe((await fs.stat(restored("d"))).ino);
});

it("replaces an existing file rather than reusing it: attributes the snapshot lacks do not survive", async () => {
  await fs.writeFile(join(src, "f"), "from the snapshot\n");
  writeXattrs(Buffer.from(join(src, "f")), [{ name: "user.kept", value: Buffer.from("yes") }]);
  await backup();
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("f"), "an older version, longer than the snapshot's\n");
  writeXattrs(Buffer.from(restored("f")), [{ name: "user.stale", value: Buffer.from("old") }]);
  const result = await restore();
  expect(result.code, result.stderr).toBe(0);
  expect(await fs.readFile(restored("f"), "utf8")).toBe("from the snapshot\n");
  expect(readXattrs(Buffer.from(restored("f"))).map((x) => x.name)).toEqual(["user.kept"]);
});

/** Flips a byte inside the stored copy of the blob that holds `offset` of `file` in the latest snapshot. */
async function damageBlobOf(file: string, offset: number): Promise<void> {
  const { openLocalRepository } = await import("../../src/store/open-local.js");
  const { findNode } = await import("../../src/store/tree/tree-walker.js");
  const { packKey } = await import("../../src/store/pack/pack-format.js");
  const repository = await openLocalRepository(repo);
  let place: { pack: string; at: number };
  try {
    const [snapshot] = (await repository.listSnapshots()).slice(-1);
    const node = (await findNode(repository, snapshot!.tree, file))!;
    let start = 0;
    let location;
    for (const id of node.content!) {
      location = repository.lookupBlob(id)!;
      if (offset < start + location.plainLength) break;
      start += location.plainLength;
    }
    place = { pack: join(repo, packKey(location!.packId)), at: location!.offset + Math.floor(location!.storedLength / 2) };
  } finally {
    await repository.close();
  }
  const bytes = await fs.readFile(place.pack);
  bytes[place.at]! ^= 0xff;
  await fs.chmod(place.pack, 0o600);
  await fs.writeFile(place.pack, bytes);
}

it("a file that cannot be restored whole leaves the one that stood there as it was, and no temporary file", async () => {
  const { randomBytes } = await import("node:crypto");
  await fs.writeFile(join(src, "big"), randomBytes(3 * 1024 * 1024));
  await fs.writeFile(join(src, "small"), "small\n");
  await backup();
  await damageBlobOf(join(src, "big"), 2 * 1024 * 1024);
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("big"), "good newer content\n");
  const result = await restore();
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`damaged: ${join(src, "big")}: .*; what stood at ${restored("big")} is left as it was`));
  expect(await fs.readFile(restored("big"), "utf8")).toBe("good newer content\n");
  expect(await fs.readFile(restored("small"), "utf8")).toBe("small\n");
  // Only what was put in place counts: small's 6 bytes, not the parts of big that were written and discarded.
  expect(result.stdout).toMatch(/restored 1 files, \d+ directories, 0 other items, 6 B; 0 skipped/);
  expect((await fs.readdir(join(target, src))).sort()).toEqual(["big", "small"]);
});

it("a file restored over another takes its place whole, with its metadata, leaving no temporary file", async () => {
  await fs.writeFile(join(src, "f"), "x".repeat(100_000));
  await fs.chmod(join(src, "f"), 0o640);
  await fs.utimes(join(src, "f"), new Date("2024-01-02T03:04:05Z"), new Date("2024-01-02T03:04:05Z"));
  await backup();
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("f"), "older\n");
  const before = (await fs.stat(restored("f"))).ino;
  expect((await restore()).code).toBe(0);
  const st = await fs.stat(restored("f"));
  expect(await fs.readFile(restored("f"), "utf8")).toBe("x".repeat(100_000));
  expect(st.mode & 0o777).toBe(0o640);
  expect(st.mtime.toISOString()).toBe("2024-01-02T03:04:05.000Z");
  expect(st.ino).not.toBe(before);
  expect(await fs.readdir(join(target, src))).toEqual(["f"]);
});

it("a hard-linked file that cannot be restored leaves every name that stood in the way as it was, and reports each name", async () => {
  const { randomBytes } = await import("node:crypto");
  await fs.writeFile(join(src, "a"), randomBytes(300_000));
  await fs.link(join(src, "a"), join(src, "b"));
  await backup();
  await damageBlobOf(join(src, "a"), 0);
  await fs.mkdir(join(target, src), { recursive: true });
  await fs.writeFile(restored("a"), "user a\n");
  await fs.writeFile(restored("b"), "user b, unrelated\n");
  const result = await restore();
  expect(result.code).toBe(1);
  expect(await fs.readFile(restored("a"), "utf8")).toBe("user a\n");
  expect(await fs.readFile(restored("b"), "utf8")).toBe("user b, unrelated\n");
  expect((await fs.stat(restored("b"))).nlink).toBe(1);
  expect(result.stderr).toContain(`damaged: ${join(src, "a")}: `);
  expect(result.stderr).toContain(`damaged: ${join(src, "b")}: a name of ${join(src, "a")}, which could not be restored; what stood at ${restored("b")} is left as it was`);
  expect((await fs.readdir(join(target, src))).sort()).toEqual(["a", "b"]);

  // Into an empty target the damaged file is made (its good parts in place) and linked, each name reported.
  await fs.rm(target, { recursive: true });
  const fresh = await restore();
  expect(fresh.code).toBe(1);
  expect((await fs.stat(restored("b"))).ino).toBe((await fs.stat(restored("a"))).ino);
  expect(fresh.stderr).toContain(`damaged: ${join(src, "b")}: a name of ${join(src, "a")}, which could not be restored whole`);
});

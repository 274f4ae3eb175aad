// --files-from patterns expand as restic's do (Go's filepath.Glob): symlinks are matched like any
// entry, symlinked directories are gone through, and nothing beyond Go's syntax is special.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandGlob } from "../../src/cli/expand-glob.js";

const glob = async (pattern: string) => (await expandGlob(Buffer.from(pattern))).map((match) => match.toString());

let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(join(tmpdir(), "cairn-glob-"));
  await fs.mkdir(join(root, "real/docs"), { recursive: true });
  await fs.mkdir(join(root, "home/bob/docs"), { recursive: true });
  await fs.writeFile(join(root, "home/bob/docs/g"), "g");
  await fs.writeFile(join(root, "home/.profile"), "p");
  await fs.writeFile(join(root, "home/{a,b}"), "braces");
  await fs.writeFile(join(root, "real/docs/r"), "r");
  await fs.symlink("../real", join(root, "home/user"));
  await fs.symlink("bob/docs/g", join(root, "home/filelink"));
  await fs.symlink("nowhere", join(root, "home/dangling"));
  await fs.mkdir(join(root, "odd"));
  for (const name of ["Photos (2019)", "Photos 2019", "Photos 20", "!keep", "keep"]) await fs.writeFile(join(root, "odd", name), name);
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("expandGlob", () => {
  it("matches every entry of a directory, symlinks (dangling ones too) and dot files included", async () => {
    const names = ["{a,b}", ".profile", "bob", "dangling", "filelink", "user"].sort();
    expect(await glob(join(root, "home/*"))).toEqual(names.map((n) => join(root, "home", n)));
  });

  it("goes through a symlinked directory on the way, matched or named", async () => {
    expect(await glob(join(root, "home/*/docs"))).toEqual([join(root, "home/bob/docs"), join(root, "home/user/docs")]);
    expect(await glob(join(root, "home/user/*"))).toEqual([join(root, "home/user/docs")]);
  });

  it("reads ? and [] as Go does, and braces, **, parentheses and ! as plain text", async () => {
    expect(await glob(join(root, "home/b?b"))).toEqual([join(root, "home/bob")]);
    expect(await glob(join(root, "home/[bu]*"))).toEqual([join(root, "home/bob"), join(root, "home/user")]);
    expect(await glob(join(root, "home/[^bu.{]*"))).toEqual([join(root, "home/dangling"), join(root, "home/filelink")]);
    expect(await glob(join(root, "home/{a,b}"))).toEqual([join(root, "home/{a,b}")]);
    expect(await glob(join(root, "home/**/g"))).toEqual([]);
    expect(await glob(join(root, "odd/Photos (20*)"))).toEqual([join(root, "odd/Photos (2019)")]);
    expect(await glob(join(root, "odd/!kee*"))).toEqual([join(root, "odd/!keep")]);
    expect(await glob(join(root, "odd/[!k]*"))).toEqual([join(root, "odd/!keep"), join(root, "odd/keep")]);
    expect(await glob(join(root, "odd/\\*"))).toEqual([]);
    expect(await glob(join(root, "odd/kee\\p"))).toEqual([join(root, "odd/keep")]);
  });

  it("matches nothing for a pattern ending in a slash, and refuses a malformed one in one line", async () => {
    expect(await glob(join(root, "ho*/"))).toEqual([]);
    for (const bad of ["odd/[", "odd/a[", "odd/[]a]", "odd/[a-]", "odd/x\\"]) await expect(glob(join(root, bad))).rejects.toThrow(/is not a well-formed pattern/);
    // Bad only as a directory level (a[ before the slash): the message names the whole line.
    await expect(glob("odd/a[/]b")).rejects.toThrow('--files-from: "odd/a[/]b" is not a well-formed pattern');
  });

  it("returns names as the file system has them, bytes that are not UTF-8 included", async () => {
    const raw = Buffer.concat([Buffer.from(join(root, "odd/caf")), Buffer.from([0xe9])]);
    await fs.writeFile(raw, "latin-1 name");
    expect(await expandGlob(Buffer.from(join(root, "odd/ca*")))).toEqual([raw]);
    // `?` takes the stray byte as one character, as Go does.
    expect(await expandGlob(Buffer.from(join(root, "odd/caf?")))).toEqual([raw]);
    await fs.rm(raw);
  });

  it("matches byte by byte as Go does: a star may end inside a multi-byte character", async () => {
    await fs.mkdir(join(root, "u"));
    for (const name of ["é", "€", "😀"]) await fs.writeFile(join(root, "u", name), name);
    expect(await glob(join(root, "u/*??"))).toEqual(["€", "😀"].map((n) => join(root, "u", n)));
    expect(await glob(join(root, "u/*???"))).toEqual([join(root, "u/😀")]);
    expect(await glob(join(root, "u/*[^€]"))).toEqual(["é", "€", "😀"].map((n) => join(root, "u", n)));
  });

  it("takes any lstat failure for no match, and refuses more than 10,000 levels", async () => {
    await fs.symlink("loop", join(root, "loop"));
    expect(await glob(join(root, "loop/"))).toEqual([]);
    expect(await glob(join(root, "loop/x"))).toEqual([]);
    expect(await glob(join(root, "x".repeat(300)))).toEqual([]);
    await expect(glob("*" + "/".repeat(10_001) + "x*")).rejects.toThrow(/more than 10000 levels/);
    // 40 KB of stars: matched without copying the pattern for every chunk (it took minutes).
    expect(await glob(join(root, "a*".repeat(20_000)))).toEqual([]);
  });

  it("keeps a relative pattern relative, and a name without metacharacters stands for itself only if something is there", async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(await glob("home/bo*")).toEqual(["home/bob"]);
      expect(await glob("home/dangling")).toEqual(["home/dangling"]);
      expect(await glob("home/missing")).toEqual([]);
      expect(await glob("nothing*/x")).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

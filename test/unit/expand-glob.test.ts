// --files-from patterns expand as restic's do (Go's filepath.Glob): symlinks are matched like any
// entry, symlinked directories are gone through, and nothing beyond Go's syntax is special.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandGlob } from "../../src/cli/expand-glob.js";

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
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("expandGlob", () => {
  it("matches every entry of a directory, symlinks (dangling ones too) and dot files included", async () => {
    const names = ["{a,b}", ".profile", "bob", "dangling", "filelink", "user"].sort();
    expect(await expandGlob(join(root, "home/*"))).toEqual(names.map((n) => join(root, "home", n)));
  });

  it("goes through a symlinked directory on the way, matched or named", async () => {
    expect(await expandGlob(join(root, "home/*/docs"))).toEqual([join(root, "home/bob/docs"), join(root, "home/user/docs")]);
    expect(await expandGlob(join(root, "home/user/*"))).toEqual([join(root, "home/user/docs")]);
  });

  it("reads ? and [] as Go does, and braces and ** as plain text", async () => {
    expect(await expandGlob(join(root, "home/b?b"))).toEqual([join(root, "home/bob")]);
    expect(await expandGlob(join(root, "home/[bu]*"))).toEqual([join(root, "home/bob"), join(root, "home/user")]);
    expect(await expandGlob(join(root, "home/{a,b}"))).toEqual([join(root, "home/{a,b}")]);
    expect(await expandGlob(join(root, "home/**/g"))).toEqual([]);
  });

  it("keeps a relative pattern relative, and a name without metacharacters stands for itself only if something is there", async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(await expandGlob("home/bo*")).toEqual(["home/bob"]);
      expect(await expandGlob("home/dangling")).toEqual(["home/dangling"]);
      expect(await expandGlob("home/missing")).toEqual([]);
      expect(await expandGlob("nothing*/x")).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

// Hard-linked files changing during a backup. A file already read is deleted and a new
// hard-linked file takes its freed inode number (ext4 hands the lowest free inode out again):
// the new file must be read, not given the deleted file's bytes because it has the same device
// and inode (mounting needs root). One name of a pair vanishes before it is read: the other,
// still there, must be stored all the same.
import { randomBytes } from "node:crypto";
import { linkSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { createTestRepository, dumpBytes } from "../support/repo-fixture.js";
import { ext4Repository, type Ext4Repository } from "../support/loop-ext4.js";

const isRoot = process.getuid?.() === 0;
let ext4: Ext4Repository | undefined;

beforeAll(async () => {
  if (isRoot) ext4 = await ext4Repository("cairn-hardlinks-", { mib: 32 });
});

afterAll(async () => {
  await ext4?.cleanup();
});

describe.skipIf(!isRoot)("an inode freed and taken again during a backup (ext4, needs root)", () => {
  it("the new file is read, not given the deleted file's bytes", async () => {
    const src = join(ext4!.mnt, "src");
    await fs.mkdir(join(src, "a"), { recursive: true });
    await fs.mkdir(join(src, "m"));
    await fs.mkdir(join(src, "z"));
    writeFileSync(join(src, "a", "X"), randomBytes(5000));
    linkSync(join(src, "a", "X"), join(src, "a", "X2"));
    const oldInode = statSync(join(src, "a", "X")).ino;
    // Files read between a/ and z/: the swap happens as the last of them is read. X's own read
    // may then be done or not yet begun (X vanished): either way Y must come back whole.
    for (let i = 0; i < 40; i++) writeFileSync(join(src, "m", `f${String(i).padStart(2, "0")}`), randomBytes(3000));
    const newContent = randomBytes(5000);
    let newInode: number | undefined;
    await runBackup(ext4!.repo, {
      sources: [new PathSource(src)],
      onFile: (path) => {
        if (!path.endsWith("/m/f39")) return;
        unlinkSync(join(src, "a", "X"));
        unlinkSync(join(src, "a", "X2"));
        writeFileSync(join(src, "z", "Y"), newContent);
        linkSync(join(src, "z", "Y"), join(src, "z", "Y2"));
        newInode = statSync(join(src, "z", "Y")).ino;
      },
    });
    // The case only arises if the inode number came back: ext4 gives the lowest free one.
    expect(newInode, "Y took X's freed inode number").toBe(oldInode);
    const snapshot = (await ext4!.repo.listSnapshots()).at(-1)!;
    for (const name of ["Y", "Y2"]) {
      expect((await dumpBytes(ext4!.repo, snapshot.tree, join(src, "z", name))).equals(newContent), `${name} holds the new file's bytes`).toBe(true);
    }
  });
});

describe("a hard link whose other name vanishes before it is read", () => {
  it("is read on its own and stored", async () => {
    const t = await createTestRepository();
    try {
      const src = join(t.work, "src");
      await fs.mkdir(src);
      const content = randomBytes(5000);
      writeFileSync(join(src, "A"), content);
      linkSync(join(src, "A"), join(src, "B"));
      const warnings: string[] = [];
      await runBackup(t.repo, {
        sources: [new PathSource(src)],
        // Both names were listed (two links each); A goes just before it is opened.
        onFile: (path) => path.endsWith("/A") && unlinkSync(path),
        onWarning: (w) => warnings.push(`${w.path}: ${w.message}`),
      });
      const snapshot = (await t.repo.listSnapshots()).at(-1)!;
      expect((await dumpBytes(t.repo, snapshot.tree, join(src, "B"))).equals(content)).toBe(true);
      expect(warnings).toEqual([`${join(src, "A")}: cannot open: ENOENT`]);
    } finally {
      await t.cleanup();
    }
  });
});

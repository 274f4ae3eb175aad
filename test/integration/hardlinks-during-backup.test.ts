// Hard-linked files changing during a backup. A file already read is deleted and a new
// hard-linked file takes its freed inode number (ext4 hands the lowest free inode out again):
// the new file must be read, not given the deleted file's bytes because it has the same device
// and inode (mounting needs root). One name of a pair vanishes before it is read: the other,
// still there, must be stored all the same.
import { randomBytes } from "node:crypto";
import { linkSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { dump } from "../../src/restore/dump.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { tempDir } from "../support/cli.js";
import { mountExt4, type LoopMount } from "../support/loop-ext4.js";

const isRoot = process.getuid?.() === 0;
let work: { path: string; cleanup: () => Promise<void> };
let mnt: string;
let repo: Repository | undefined;
let mount: LoopMount | undefined;

beforeAll(async () => {
  work = await tempDir("cairn-hardlinks-");
  if (!isRoot) return;
  mount = mountExt4(work.path, { mib: 32 });
  mnt = mount.path;
  await initLocalRepository(join(work.path, "repo"));
  repo = await openLocalRepository(join(work.path, "repo"));
});

afterAll(async () => {
  await repo?.close();
  mount?.unmount();
  await work?.cleanup();
});

describe.skipIf(!isRoot)("an inode freed and taken again during a backup (ext4, needs root)", () => {
  it("the new file is read, not given the deleted file's bytes", async () => {
    const src = join(mnt, "src");
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
    await runBackup(repo!, {
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
    const snapshot = (await repo!.listSnapshots()).at(-1)!;
    for (const name of ["Y", "Y2"]) {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on("data", (c: Buffer) => chunks.push(c));
      await dump(repo!, snapshot.tree, join(src, "z", name), out);
      expect(Buffer.concat(chunks).equals(newContent), `${name} holds the new file's bytes`).toBe(true);
    }
  });
});

describe("a hard link whose other name vanishes before it is read", () => {
  it("is read on its own and stored", async () => {
    const scratch = await tempDir("cairn-hardlink-vanish-");
    try {
      await initLocalRepository(join(scratch.path, "repo"));
      const own = await openLocalRepository(join(scratch.path, "repo"));
      const src = join(scratch.path, "src");
      await fs.mkdir(src);
      const content = randomBytes(5000);
      writeFileSync(join(src, "A"), content);
      linkSync(join(src, "A"), join(src, "B"));
      const warnings: string[] = [];
      try {
        await runBackup(own, {
          sources: [new PathSource(src)],
          // Both names were listed (two links each); A goes just before it is opened.
          onFile: (path) => path.endsWith("/A") && unlinkSync(path),
          onWarning: (w) => warnings.push(`${w.path}: ${w.message}`),
        });
        const snapshot = (await own.listSnapshots()).at(-1)!;
        const out = new PassThrough();
        const chunks: Buffer[] = [];
        out.on("data", (c: Buffer) => chunks.push(c));
        await dump(own, snapshot.tree, join(src, "B"), out);
        expect(Buffer.concat(chunks).equals(content)).toBe(true);
        expect(warnings).toEqual([`${join(src, "A")}: cannot open: ENOENT`]);
      } finally {
        await own.close();
      }
    } finally {
      await scratch.cleanup();
    }
  });
});

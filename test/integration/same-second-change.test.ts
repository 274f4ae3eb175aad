// A file rewritten within the same second as the backup that read it, with its size unchanged,
// on a file system whose times count whole seconds (ext4 with 128-byte inodes): its size, mtime
// and ctime stay as they were, so only a re-read shows the change. The next backup must store
// the new content. Mounting needs root.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { ext4Repository, type Ext4Repository } from "../support/loop-ext4.js";

const isRoot = process.getuid?.() === 0;
let ext4: Ext4Repository | undefined;

beforeAll(async () => {
  // 128-byte inodes have no room for sub-second times.
  if (isRoot) ext4 = await ext4Repository("cairn-same-second-", { mib: 16, mkfsArgs: ["-I", "128"] });
});

afterAll(async () => {
  await ext4?.cleanup();
});

async function untilNextSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
}

describe.skipIf(!isRoot)("a change in the second a backup read the file (whole-second times, needs root)", () => {
  it("is stored by the next backup, though size, mtime and ctime are as they were", async () => {
    const file = join(ext4!.mnt, "config.txt");
    let sameTimes = 0;
    for (let round = 0; round < 5 && sameTimes === 0; round++) {
      await untilNextSecond();
      await fs.writeFile(file, `round ${round} version A\n`);
      const before = await fs.stat(file, { bigint: true });
      const first = await runBackup(ext4!.repo, { sources: [new PathSource(ext4!.mnt)] });
      await fs.writeFile(file, `round ${round} version B\n`);
      const after = await fs.stat(file, { bigint: true });
      // The round counts only if the rewrite stayed within the same second.
      if (after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) continue;
      sameTimes++;
      const parent = await ext4!.repo.loadSnapshot(first.snapshotId!);
      const second = await runBackup(ext4!.repo, { sources: [new PathSource(ext4!.mnt)], parent });
      const node = await findNode(ext4!.repo, second.snapshot.tree, file);
      const stored = Buffer.concat(await Promise.all(node!.content!.map((id) => ext4!.repo.loadBlob(id))));
      expect(stored.toString()).toBe(`round ${round} version B\n`);
    }
    expect(sameTimes).toBe(1);
  });

  it("a file read again only because of that rule, and found as it was, counts as unmodified", async () => {
    const dir = join(ext4!.mnt, "steady");
    await fs.mkdir(dir);
    await untilNextSecond();
    await fs.writeFile(join(dir, "one.txt"), "steady\n");
    // A second name of the same file is served by the one read, and counted the same way.
    await fs.link(join(dir, "one.txt"), join(dir, "two.txt"));
    const first = await runBackup(ext4!.repo, { sources: [new PathSource(dir)] });
    // Within 2 s of the parent backup on whole-second times: read again, and the same.
    const parent = await ext4!.repo.loadSnapshot(first.snapshotId!);
    const second = await runBackup(ext4!.repo, { sources: [new PathSource(dir)], parent });
    expect(second.snapshot.summary).toMatchObject({ filesRead: 1, filesUnmodified: 2, filesChanged: 0, filesNew: 0 });
  });
});

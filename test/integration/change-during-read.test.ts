// A file rewritten in place while a backup reads it, keeping its size and with its mtime set
// back (as some tools and `touch -r` do): only the change time shows it, and the backup must
// say the file changed while it was read.
import { utimesSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { tempDir } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: Repository;

beforeAll(async () => {
  work = await tempDir("cairn-change-during-read-");
  await initLocalRepository(join(work.path, "repo"));
  repo = await openLocalRepository(join(work.path, "repo"));
});

afterAll(async () => {
  await repo?.close();
  await work?.cleanup();
});

async function backupRewritingOnRead(ignoreCtime: boolean): Promise<string[]> {
  const src = join(work.path, `src-${ignoreCtime}`);
  await fs.mkdir(src);
  const file = join(src, "settings.bin");
  writeFileSync(file, "version A: 0123456789\n");
  // A whole second, which utimes sets back exactly.
  const mtime = 1_700_000_000;
  utimesSync(file, mtime, mtime);
  const warnings: string[] = [];
  await runBackup(repo, {
    sources: [new PathSource(src)],
    changeDetection: { ignoreCtime },
    // After the directory was listed, just before the file is opened: same size, mtime set back.
    onFile: () => {
      writeFileSync(file, "version B: 9876543210\n");
      utimesSync(file, mtime, mtime);
    },
    onWarning: (w) => warnings.push(`${w.path}: ${w.message}`),
  });
  return warnings.map((w) => w.replace(src, "SRC"));
}

it("a same-size rewrite with the mtime set back is reported by its change time", async () => {
  expect(await backupRewritingOnRead(false)).toEqual(["SRC/settings.bin: file changed while it was read"]);
});

it("with --ignore-ctime the change time is not consulted", async () => {
  expect(await backupRewritingOnRead(true)).toEqual([]);
});

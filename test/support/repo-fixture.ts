// A real repository in a temp directory, and backups with a chosen snapshot time.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import { dump } from "../../src/restore/dump.js";
import type { Id } from "../../src/store/id.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { InitOptions, Repository } from "../../src/store/repository.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";

export interface TestRepository {
  /** Scratch directory: the repository is at `${work}/repo`; put source trees anywhere else inside. */
  work: string;
  repoPath: string;
  repo: Repository;
  /** Closes the repository, so that the CLI can open it; `reopen` opens it again. */
  close(): Promise<void>;
  reopen(): Promise<void>;
  cleanup(): Promise<void>;
}

/** What `cairn dump` writes for `path` in a snapshot tree: a file's bytes, or a tar of a directory. */
export async function dumpBytes(repo: Repository, tree: Id, path: string): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await dump(repo, tree, path, out);
  return Buffer.concat(chunks);
}

export async function createTestRepository(options: InitOptions = {}): Promise<TestRepository> {
  const work = await fs.mkdtemp(join(tmpdir(), "cairn-fixture-"));
  const repoPath = join(work, "repo");
  await initLocalRepository(repoPath, options);
  let open = true;
  const fixture: TestRepository = {
    work,
    repoPath,
    repo: await openLocalRepository(repoPath),
    async close() {
      if (open) await fixture.repo.close();
      open = false;
    },
    async reopen() {
      await fixture.close();
      fixture.repo = await openLocalRepository(repoPath);
      open = true;
    },
    async cleanup() {
      await fixture.close();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
  return fixture;
}

export interface BackupAt {
  time?: Date;
  tags?: string[];
  hostname?: string;
}

/** Backs up `paths` as one snapshot and returns it as stored. */
export async function backup(repo: Repository, paths: string[], options: BackupAt = {}): Promise<StoredSnapshot> {
  const result = await runBackup(repo, { sources: paths.map((p) => new PathSource(p)), hostname: options.hostname ?? "testhost", tags: options.tags ?? [], ...(options.time ? { time: options.time } : {}) });
  if (result.warnings.length > 0) throw new Error(`backup warnings: ${JSON.stringify(result.warnings)}`);
  if (!result.snapshotId) throw new Error("backup wrote no snapshot");
  return { ...result.snapshot, id: result.snapshotId };
}

/** Writes files given as relative path -> content under `root`, creating directories. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(join(root, rel, ".."), { recursive: true });
    await fs.writeFile(join(root, rel), content);
  }
}

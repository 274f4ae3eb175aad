// Writing order makes a crash harmless: a backup killed with SIGKILL at any moment leaves a
// repository whose objects are all whole, whose index names only packs that exist, whose
// snapshots reference only indexed blobs in existing packs, and where the next backup succeeds.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { hashBytes } from "../../src/store/id.js";
import { listIndexFiles, readIndexFile } from "../../src/store/index/index-sync.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import { walkTree } from "../../src/store/tree/tree-walker.js";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";

const MiB = 1024 * 1024;

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
const env = { CAIRN_REPOSITORY: undefined };

/** ~60 MB of incompressible data: a few large files and a few hundred small ones. */
async function writeSource(dir: string): Promise<void> {
  for (let i = 0; i < 5; i++) await fs.writeFile(join(dir, `large-${i}.bin`), randomBytes(10 * MiB));
  for (let d = 0; d < 4; d++) {
    await fs.mkdir(join(dir, `dir-${d}`));
    for (let i = 0; i < 50; i++) await fs.writeFile(join(dir, `dir-${d}`, `small-${i}`), randomBytes(50 * 1024 + i));
  }
}

/** Every file under `dir` (dot files included), relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

const complete = (files: string[]) => files.filter((f) => !basename(f).startsWith("."));

type KillPoint = (repo: string, elapsedMs: number) => Promise<boolean>;

/** Runs `cairn backup` and SIGKILLs it as soon as `when` holds; fails if the backup ended first. */
async function backupKilledWhen(repo: string, when: KillPoint): Promise<void> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "backup", src], { env: { ...process.env, ...env }, stdio: "ignore" });
  const exited = once(child, "exit");
  const started = Date.now();
  while (child.exitCode === null && !(await when(repo, Date.now() - started))) await new Promise((r) => setTimeout(r, 2));
  child.kill("SIGKILL");
  const [code, signal] = await exited;
  expect({ code, signal }, "the backup finished before the kill point was reached").toEqual({ code: null, signal: "SIGKILL" });
}

/** The crash-safety invariants, checked through the library. Returns the snapshot ids. */
async function expectConsistent(repoDir: string): Promise<string[]> {
  const backend = new LocalBackend(repoDir);
  // Every object under its final name is whole: its name is the hash of its bytes.
  for (const prefix of ["data/", "index/", "snapshots/"]) {
    for await (const info of backend.list(prefix)) expect(hashBytes(await backend.get(info.key)), info.key).toBe(basename(info.key));
  }
  // Index files name only packs that exist, at their recorded size.
  for (const id of await listIndexFiles(backend)) {
    for (const pack of (await readIndexFile(backend, id)).packs) expect((await backend.stat(packKey(pack.id)))?.size, `pack ${pack.id} of index ${id}`).toBe(pack.size);
  }
  // Snapshots reference only blobs that are indexed and whose packs exist.
  const repo = await openLocalRepository(repoDir);
  try {
    const snapshots = await repo.listSnapshots();
    for (const snapshot of snapshots) {
      const referenced = [snapshot.tree];
      for await (const { node } of walkTree(repo, snapshot.tree)) referenced.push(...(node.content ?? []), ...(node.subtree ? [node.subtree] : []));
      for (const id of new Set(referenced)) {
        const location = repo.lookupBlob(id);
        expect(location, `blob ${id} of snapshot ${snapshot.id}`).toBeDefined();
        expect(await backend.stat(packKey(location!.packId)), `pack of blob ${id}`).toBeDefined();
      }
    }
    return snapshots.map((s) => s.id);
  } finally {
    await repo.close();
  }
}

async function hashTree(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const file of await filesUnder(dir)) hashes.set(file.slice(dir.length), createHash("sha256").update(await fs.readFile(file)).digest("hex"));
  return hashes;
}

beforeAll(async () => {
  work = await tempDir("cairn-write-order-");
  src = join(work.path, "src");
  await fs.mkdir(src);
  await writeSource(src);
});
afterAll(async () => {
  await work.cleanup();
});

const KILL_POINTS: [string, KillPoint][] = [
  ["100 ms after start", async (_repo, elapsed) => elapsed >= 100],
  ["while the first pack is being written", async (repo) => (await filesUnder(join(repo, "data"))).length > 0],
  ["once the first pack is complete", async (repo) => complete(await filesUnder(join(repo, "data"))).length > 0],
  ["once the first index file exists", async (repo) => complete(await filesUnder(join(repo, "index"))).length > 0],
  ["with half of the packs written", async (repo) => complete(await filesUnder(join(repo, "data"))).length >= 30],
];

describe("a backup killed at any point", () => {
  let sourceHashes: Map<string, string>;

  beforeAll(async () => {
    sourceHashes = await hashTree(src);
  });

  it.each(KILL_POINTS)("leaves a consistent repository and a working next backup: killed %s", async (_name, when) => {
    const repo = await fs.mkdtemp(join(work.path, "repo-"));
    await fs.rmdir(repo);
    // 1 MiB packs: ~60 packs and several index files, so there are many moments to crash in.
    expect((await runCairn(["-r", repo, "init", "--pack-size", "1M"], { env })).code).toBe(0);

    await backupKilledWhen(repo, when);
    const before = await expectConsistent(repo);

    const next = await runCairn(["-r", repo, "backup", src], { env });
    expect(next.code, next.stderr).toBe(0);
    const after = await expectConsistent(repo);
    expect(after.length).toBe(before.length + 1);

    const latest = after.find((id) => !before.includes(id))!;
    const reopened = await openLocalRepository(repo);
    const target = join(work.path, `restore-${basename(repo)}`);
    try {
      const result = await restoreSnapshot(reopened, (await reopened.loadSnapshot(latest)).tree, { target, subpath: src });
      expect(result.damaged).toEqual([]);
    } finally {
      await reopened.close();
    }
    expect(await hashTree(target)).toEqual(sourceHashes);
    await fs.rm(target, { recursive: true });
    await fs.rm(repo, { recursive: true });
  });
});

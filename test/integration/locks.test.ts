// Repository locks through the CLI: which commands share, which exclude, what is stale, what
// unlock removes; the index database's one-process rule; and private file modes throughout.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { hashBytes } from "../../src/store/id.js";
import { listLocks, RepositoryLock, type LockInfo } from "../../src/store/lock/repository-lock.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let src: string;
let backend: LocalBackend;

const cairn = (...args: string[]) => runCairn(["-r", repo, ...args]);

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

async function placeLock(info: Partial<LockInfo>): Promise<string> {
  const lock: LockInfo = { time: new Date().toISOString(), exclusive: false, hostname: hostname(), username: "test", pid: process.pid, command: "test holder", nonce: Math.random().toString(36), ...info };
  const bytes = Buffer.from(JSON.stringify(lock));
  const key = `locks/${hashBytes(bytes)}`;
  await backend.put(key, bytes);
  return key;
}

async function clearLocks(): Promise<void> {
  for await (const info of backend.list("locks/")) await backend.delete(info.key);
}

beforeAll(async () => {
  work = await tempDir("cairn-locks-");
  repo = join(work.path, "repo");
  src = join(work.path, "src");
  await fs.mkdir(src);
  await fs.writeFile(join(src, "file.txt"), "locked in\n");
  expect((await runCairn(["-r", repo, "init"])).code).toBe(0);
  expect((await cairn("backup", src)).code).toBe(0);
  backend = new LocalBackend(repo);
});

afterAll(async () => {
  await work?.cleanup();
});

/** Runs cairn, and once its stderr says `waitingFor`, calls `release`: the command must have waited. */
function cairnReleasingWhen(args: string[], waitingFor: string, release: () => Promise<void>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  let released = false;
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (!released && stderr.includes(waitingFor)) {
      released = true;
      void release();
    }
  });
  return once(child, "close").then(([code]) => ({ code: code as number | null, stderr }));
}

const target = () => join(work.path, `restore-${Math.random().toString(36).slice(2)}`);

/** Each command with the lock it needs. */
const COMMANDS: [string, () => string[], "shared" | "exclusive"][] = [
  ["backup", () => ["backup", src], "shared"],
  ["restore", () => ["restore", "latest", "--target", target()], "shared"],
  ["check", () => ["check"], "shared"],
  ["repair index", () => ["repair", "index"], "exclusive"],
  ["repair snapshots", () => ["repair", "snapshots"], "exclusive"],
  ["tag", () => ["tag", "--add", "x"], "exclusive"],
];

describe("lock modes", () => {
  it.each(COMMANDS)("%s runs beside a shared lock only if it needs a shared one, and never beside an exclusive one", async (_name, args, mode) => {
    await clearLocks();
    await placeLock({ exclusive: false });
    const besideShared = await cairn(...args());
    if (mode === "shared") expect(besideShared.code, besideShared.stderr).toBe(0);
    else {
      expect(besideShared.code).toBe(11);
      expect(besideShared.stderr).toContain(`cairn: repository is locked: shared lock by PID ${process.pid} on ${hostname()}`);
    }
    await clearLocks();
    await placeLock({ exclusive: true });
    const besideExclusive = await cairn(...args());
    expect(besideExclusive.code).toBe(11);
    expect(besideExclusive.stderr).toContain(`exclusive lock by PID ${process.pid}`);
    await clearLocks();
  });
});

describe("stale locks", () => {
  it("are ignored: a dead process on this host, or no refresh for 30 minutes elsewhere; a fresh lock elsewhere holds", async () => {
    await clearLocks();
    await placeLock({ exclusive: true, pid: deadPid() });
    await placeLock({ exclusive: true, hostname: "elsewhere", time: new Date(Date.now() - 31 * 60_000).toISOString() });
    await fs.writeFile(join(repo, "locks", hashBytes(Buffer.from("garbage"))), "garbage", { mode: 0o600 });
    expect((await cairn("repair", "index")).code).toBe(0);
    const live = await placeLock({ exclusive: true, hostname: "elsewhere", pid: 1 });
    const blocked = await cairn("repair", "index");
    expect(blocked.code).toBe(11);
    expect(blocked.stderr).toContain("exclusive lock by PID 1 on elsewhere");
    await backend.delete(live);
  });

  it("unlock removes the stale ones and keeps the live ones; --remove-all removes every lock", async () => {
    await clearLocks();
    const dead = await placeLock({ pid: deadPid() });
    const old = await placeLock({ hostname: "elsewhere", time: new Date(Date.now() - 31 * 60_000).toISOString() });
    const garbage = `locks/${hashBytes(Buffer.from("garbage"))}`;
    await fs.writeFile(join(repo, garbage), "garbage", { mode: 0o600 });
    const live = await placeLock({});
    const liveElsewhere = await placeLock({ hostname: "elsewhere", pid: 1 });

    const unlock = await cairn("--json", "unlock");
    expect(unlock.code).toBe(0);
    const removed = unlock.stdout.trim().split("\n").map((l) => JSON.parse(l) as { message_type: string; key?: string; removed?: number; kept?: number });
    expect(removed.filter((r) => r.message_type === "removed").map((r) => r.key).sort()).toEqual([dead, old, garbage].sort());
    expect(removed.find((r) => r.message_type === "summary")).toMatchObject({ removed: 3, kept: 2 });
    expect((await listLocks(backend)).map((l) => l.key).sort()).toEqual([live, liveElsewhere].sort());

    const all = await cairn("unlock", "--remove-all");
    expect(all.code).toBe(0);
    expect(all.stdout).toContain("removed 2 lock(s)");
    expect(await listLocks(backend)).toEqual([]);
  });

  it("unlock removes what a lock write killed half-way left, but not one being written now", async () => {
    await clearLocks();
    const leftover = join(repo, "locks", ".tmp-0123456789abcdef");
    const fresh = join(repo, "locks", ".tmp-fedcba9876543210");
    await fs.writeFile(leftover, "half a lock");
    await fs.utimes(leftover, new Date(Date.now() - 10 * 60_000), new Date(Date.now() - 10 * 60_000));
    await fs.writeFile(fresh, "a lock being written");
    const unlock = await cairn("unlock");
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toContain("removed 0 lock(s), and 1 temporary file(s) of interrupted lock writes");
    await expect(fs.stat(leftover)).rejects.toThrow(/ENOENT/);
    await fs.rm(fresh);
  });
});

describe("a held lock", () => {
  it("is waited for with --retry-lock, naming the holder, and taken once released", async () => {
    await clearLocks();
    const key = await placeLock({ exclusive: false, command: "backup /srv" });
    const waited = await cairnReleasingWhen(["--retry-lock", "30s", "repair", "index"], "repository is locked (", () => backend.delete(key));
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stderr).toContain(`repository is locked (shared lock by PID ${process.pid} on ${hostname()} (test, "cairn backup /srv"`);
  });

  it("is refreshed by its holder: a new lock object with a newer time replaces the old one", async () => {
    await clearLocks();
    const lock = await RepositoryLock.acquire(backend, { exclusive: false, waitMs: 0 });
    const [before] = await listLocks(backend);
    await new Promise((r) => setTimeout(r, 20));
    await lock.refresh();
    const after = await listLocks(backend);
    expect(after).toHaveLength(1);
    expect(after[0]!.key).not.toBe(before!.key);
    expect(Date.parse(after[0]!.time)).toBeGreaterThan(Date.parse(before!.time));
    await lock.release();
    expect(await listLocks(backend)).toEqual([]);
  });

  it("is found lost at its next refresh when another process removed it, or when it went unrefreshed for 20 minutes: nothing is written then", async () => {
    await clearLocks();
    const lost: string[] = [];
    const removed = await RepositoryLock.acquire(backend, { exclusive: true, waitMs: 0, onLost: (m) => lost.push(m) });
    await clearLocks();
    await removed.refresh();
    expect(lost).toEqual(["the repository lock was removed by another process (cairn unlock --remove-all?)"]);
    expect(await listLocks(backend)).toEqual([]);
    await removed.refresh();
    expect(lost).toHaveLength(1);
    await removed.release();

    const stalled = await RepositoryLock.acquire(backend, { exclusive: false, waitMs: 0, onLost: (m) => lost.push(m) });
    const [before] = await listLocks(backend);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 21 * 60 * 1000);
      await stalled.refresh();
    } finally {
      vi.useRealTimers();
    }
    expect(lost[1]).toBe("the repository lock was not refreshed for 21 minutes, so other hosts may take it for stale");
    expect((await listLocks(backend)).map((l) => l.key)).toEqual([before!.key]);
    await stalled.release();
    expect(await listLocks(backend)).toEqual([]);
  });

  it("released while a refresh is writing its new object, leaves no lock behind", async () => {
    await clearLocks();
    // A slow store: the refresh's write is still under way when the command releases its lock.
    const slow = new LocalBackend(repo);
    const put = slow.put.bind(slow);
    let delayed = false;
    slow.put = async (key, data) => {
      if (delayed) await new Promise((r) => setTimeout(r, 200));
      return put(key, data);
    };
    const lock = await RepositoryLock.acquire(slow, { exclusive: true, waitMs: 0 });
    delayed = true;
    const refreshing = lock.refresh();
    await new Promise((r) => setTimeout(r, 50));
    await lock.release();
    await refreshing;
    expect(await listLocks(backend)).toEqual([]);
  });
});

describe("the index database", () => {
  it("admits one process: a second waits within --retry-lock with a message naming the holder, or fails with exit 11", async () => {
    await clearLocks();
    const holder = await openLocalRepository(repo);
    let closing: Promise<void> | undefined;
    let waited;
    try {
      const refused = await cairn("check");
      expect(refused.code).toBe(11);
      expect(refused.stderr).toMatch(new RegExp(`cairn: index database .* is in use by process ${process.pid} on ${hostname()}`));
      waited = await cairnReleasingWhen(["--retry-lock", "30s", "check"], "waiting for the index database", () => (closing = holder.close()));
    } finally {
      await (closing ?? holder.close());
    }
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stderr).toContain(`waiting for the index database, held by process ${process.pid} on ${hostname()}`);
  });

  it("Ctrl-C while a command holding the repository lock waits for it exits 130 and leaves no lock behind", async () => {
    await clearLocks();
    const holder = await openLocalRepository(repo);
    let interrupted;
    try {
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "--retry-lock", "60s", "ls", "latest"], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("waiting for the index database")) child.kill("SIGINT");
      });
      const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
      interrupted = { code, signal, stderr };
    } finally {
      await holder.close();
    }
    expect(interrupted.signal).toBeNull();
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/cairn: interrupted\n$/);
    expect(await listLocks(backend)).toEqual([]);
  });

  it("Ctrl-C the moment a command's lock object appears (while it still checks the other locks) leaves no lock behind", async () => {
    await clearLocks();
    // Many other hosts' shared locks make the check after writing our own take a while.
    const others = new Set<string>();
    for (let i = 0; i < 3000; i++) others.add(await placeLock({ hostname: "otherhost", pid: 1000 + i }));
    try {
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "check"], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const closed = once(child, "close");
      let exited = false;
      void closed.then(() => (exited = true));
      for (let seen = false; !seen && !exited; ) {
        seen = (await fs.readdir(join(repo, "locks"))).some((name) => !others.has(`locks/${name}`));
        if (!seen) await new Promise((r) => setTimeout(r, 2));
      }
      child.kill("SIGINT");
      const [code] = (await closed) as [number | null];
      expect(code, stderr).toBe(130);
      expect((await listLocks(backend)).filter((lock) => lock.hostname !== "otherhost")).toEqual([]);
    } finally {
      await clearLocks();
    }
  }, 60_000);
});

describe("file modes", () => {
  it("every repository file is 0600 and every directory 0700", async () => {
    expect((await cairn("backup", src)).code).toBe(0);
    expect((await cairn("check", "--read-data")).code).toBe(0);
    const wrong: string[] = [];
    let seen = 0;
    const walk = async (path: string): Promise<void> => {
      const st = await fs.lstat(path);
      const mode = st.mode & 0o777;
      seen++;
      if (mode !== (st.isDirectory() ? 0o700 : 0o600)) wrong.push(`${path} ${mode.toString(8)}`);
      if (st.isDirectory()) for (const name of await fs.readdir(path)) await walk(join(path, name));
    };
    await walk(repo);
    expect(seen).toBeGreaterThan(10);
    expect(wrong).toEqual([]);
  });
});

describe("a damaged layout", () => {
  it("a file where the locks directory goes: one line naming the path, for every locking command", async () => {
    const broken = join(work.path, "broken-locks");
    expect((await runCairn(["-r", broken, "init"])).code).toBe(0);
    await fs.rm(join(broken, "locks"), { recursive: true, force: true });
    await fs.writeFile(join(broken, "locks"), "x");
    for (const args of [["check"], ["backup", src], ["prune"]]) {
      const result = await runCairn(["-r", broken, ...args]);
      expect(result.code, args.join(" ")).not.toBe(0);
      expect(result.stderr).toMatch(new RegExp(`^cairn: write ${broken}/locks/[0-9a-f]{64}: a part of the path is not a directory\\n$`));
    }
  });
});

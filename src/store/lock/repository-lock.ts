import { randomBytes } from "node:crypto";
import * as os from "node:os";
import { LockError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { hashBytes } from "../id.js";
import { processCommand } from "../process-command.js";

/** A lock not refreshed for this long belongs to a process that is gone. */
export const STALE_AFTER_MS = 30 * 60 * 1000;
const REFRESH_EVERY_MS = 5 * 60 * 1000;
/** A holder that has not refreshed for this long (a stalled process, a hung store) counts its lock as lost: others take it for stale at STALE_AFTER_MS. */
const LOST_AFTER_MS = STALE_AFTER_MS - 2 * REFRESH_EVERY_MS;

export interface LockInfo {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  command: string;
  nonce: string;
}

export interface StoredLock extends LockInfo {
  key: string;
}

export interface LockOptions {
  exclusive: boolean;
  /** How long to keep retrying while a conflicting lock is held. */
  waitMs: number;
  onWait?: (message: string) => void;
  /**
   * Told, once, that the lock was lost while held: its object was removed by another process
   * (`unlock --remove-all`), or it went unrefreshed so long that others may have taken it for
   * stale. The holder must stop changing the repository at once; the lock is no longer refreshed.
   */
  onLost?: (message: string) => void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function isStale(lock: LockInfo, now = Date.now()): boolean {
  if (now - Date.parse(lock.time) > STALE_AFTER_MS) return true;
  return lock.hostname === os.hostname() && !processAlive(lock.pid);
}

export function describeLock(lock: LockInfo): string {
  const kind = lock.exclusive ? "exclusive" : "shared";
  const command = lock.command ? `, "cairn ${lock.command}"` : "";
  return `${kind} lock by PID ${lock.pid} on ${lock.hostname} (${lock.username}${command}, since ${lock.time})`;
}

function parseLock(bytes: Buffer): LockInfo | undefined {
  try {
    const lock = JSON.parse(bytes.toString("utf8")) as Partial<LockInfo> | null;
    const valid = typeof lock?.time === "string" && !Number.isNaN(Date.parse(lock.time)) && typeof lock.pid === "number" && typeof lock.hostname === "string" && typeof lock.exclusive === "boolean";
    return valid ? (lock as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** Every object under locks/, with its lock when it is one (locks are written whole, so one that does not parse is garbage). */
export async function listLockObjects(backend: Backend): Promise<{ key: string; lock?: LockInfo }[]> {
  const objects: { key: string; lock?: LockInfo }[] = [];
  for await (const info of backend.list("locks/")) {
    let bytes: Buffer;
    try {
      bytes = await backend.get(info.key);
    } catch {
      continue; // released between list and get
    }
    const lock = parseLock(bytes);
    objects.push(lock ? { key: info.key, lock } : { key: info.key });
  }
  return objects;
}

/** The locks that parse; garbage under locks/ holds nothing. */
export async function listLocks(backend: Backend): Promise<StoredLock[]> {
  return (await listLockObjects(backend)).flatMap(({ key, lock }) => (lock ? [{ ...lock, key }] : []));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lock objects this process has begun writing and not yet removed, by backend. */
const standing = new Map<Backend, Set<string>>();

function track(backend: Backend, key: string): void {
  const keys = standing.get(backend) ?? new Set<string>();
  keys.add(key);
  standing.set(backend, keys);
}

async function removeLockObject(backend: Backend, key: string): Promise<void> {
  await backend.delete(key);
  standing.get(backend)?.delete(key);
}

/**
 * The lock objects this process has written to `backend` (or is writing) and not removed: what
 * an exit on a signal must remove, whatever moment of taking, refreshing or releasing it hit.
 */
export function standingLockObjects(backend: Backend): string[] {
  return [...(standing.get(backend) ?? [])];
}

/**
 * A repository lock: shared for commands that only add or read, exclusive for those that
 * remove. Held as a `locks/<id>` object that is refreshed while the command runs.
 */
export class RepositoryLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private refreshing: Promise<void> | undefined;
  private refreshed = Date.now();
  private lost = false;
  private onLost: LockOptions["onLost"];

  private constructor(
    private readonly backend: Backend,
    private key: string,
    private readonly info: LockInfo,
  ) {}

  static async acquire(backend: Backend, options: LockOptions): Promise<RepositoryLock> {
    const deadline = Date.now() + options.waitMs;
    let told = false;
    for (;;) {
      const conflict = await findConflict(backend, options.exclusive, undefined);
      if (!conflict) {
        const lock = await RepositoryLock.write(backend, options.exclusive);
        // Someone may have locked at the same moment: look again, and back off if so.
        const race = await findConflict(backend, options.exclusive, lock.key);
        if (!race) {
          lock.onLost = options.onLost;
          lock.startRefreshing();
          return lock;
        }
        await lock.release();
      }
      const holder = conflict ?? (await findConflict(backend, options.exclusive, undefined));
      const description = holder ? describeLock(holder) : "a concurrent command";
      if (Date.now() >= deadline) {
        throw new LockError(`repository is locked: ${description}; use --retry-lock to wait, or cairn unlock if it is stale`);
      }
      if (!told) {
        options.onWait?.(`repository is locked (${description}), waiting`);
        told = true;
      }
      await sleep(Math.min(Math.max(0, deadline - Date.now()), 200 + Math.random() * 800));
    }
  }

  private static async write(backend: Backend, exclusive: boolean): Promise<RepositoryLock> {
    const info: LockInfo = {
      time: new Date().toISOString(),
      exclusive,
      hostname: os.hostname(),
      username: os.userInfo().username,
      pid: process.pid,
      command: processCommand(),
      nonce: randomBytes(8).toString("hex"),
    };
    const bytes = Buffer.from(JSON.stringify(info));
    const key = `locks/${hashBytes(bytes)}`;
    track(backend, key);
    await backend.put(key, bytes);
    return new RepositoryLock(backend, key, info);
  }

  private startRefreshing(): void {
    // A failed refresh (say, a full disk) is retried at the next tick; the lock only goes stale
    // after STALE_AFTER_MS without one, six ticks later.
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), REFRESH_EVERY_MS);
    this.timer.unref();
  }

  /**
   * Writes a fresh lock object, then removes the old one, so the lock never lapses; first checks
   * that the lock is still held (see LockOptions.onLost).
   */
  async refresh(): Promise<void> {
    if (this.released || this.lost) return;
    this.refreshing = this.replaceLockObject();
    await this.refreshing;
  }

  private async replaceLockObject(): Promise<void> {
    const silent = Date.now() - this.refreshed;
    if (silent > LOST_AFTER_MS) return this.lose(`the repository lock was not refreshed for ${Math.round(silent / 60_000)} minutes, so other hosts may take it for stale`);
    if (!(await this.backend.stat(this.key))) return this.lose("the repository lock was removed by another process (cairn unlock --remove-all?)");
    const fresh = await RepositoryLock.write(this.backend, this.info.exclusive);
    this.refreshed = Date.now();
    const old = this.key;
    this.key = fresh.key;
    await removeLockObject(this.backend, old);
  }

  private lose(message: string): void {
    this.lost = true;
    if (this.timer) clearInterval(this.timer);
    this.onLost?.(message);
  }

  async release(): Promise<void> {
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    // A refresh under way would leave the object it is writing behind: it finishes first.
    await this.refreshing?.catch(() => undefined);
    await removeLockObject(this.backend, this.key);
  }
}

async function findConflict(backend: Backend, exclusive: boolean, ownKey: string | undefined): Promise<StoredLock | undefined> {
  for (const lock of await listLocks(backend)) {
    if (lock.key === ownKey || isStale(lock)) continue;
    if (exclusive || lock.exclusive) return lock;
  }
  return undefined;
}

import { rmSync } from "node:fs";
import * as path from "node:path";
import { CairnError, ExitCode, IoError, RepositoryNotFoundError, UsageError } from "../errors.js";
import { LocalBackend } from "../store/backend/local-backend.js";
import { RepositoryLock, standingLockObjects } from "../store/lock/repository-lock.js";
import { initLocalRepository, openLocalRepository } from "../store/open-local.js";
import { Repository } from "../store/repository.js";
import { defaultRepositoryPath } from "../store/repository-location.js";
import { atInterruptExit, exitAtOnce } from "./abort-on-signals.js";
import type { GlobalOptions } from "./global-options.js";
import type { Output } from "./output.js";

/** "read": a command that only reads, which --no-lock may run unlocked; the others lock as named. */
export type LockMode = "read" | "shared" | "exclusive" | "none";

/**
 * Takes the lock a command needs. A lock that cannot be written (read-only storage) says how to
 * read anyway; --no-lock is refused for commands that change the repository.
 */
async function acquire(backend: LocalBackend, globals: GlobalOptions, out: Output, lock: LockMode): Promise<{ release(): Promise<void> } | undefined> {
  if (lock === "read" && globals.noLock) return undefined;
  if (globals.noLock) throw new UsageError("--no-lock is only for commands that read the repository (snapshots, ls, restore, dump, diff, find, stats, check, and --dry-run of forget, prune and repair)");
  if (lock === "none") return undefined;
  // Exiting on a signal outside cancellable work must not leave a lock object to other hosts:
  // registered before the first is written, given up once the last is removed.
  const forget = atInterruptExit(() => {
    for (const key of standingLockObjects(backend)) rmSync(path.join(backend.root, key), { force: true });
  });
  try {
    const taken = await RepositoryLock.acquire(backend, {
      exclusive: lock === "exclusive",
      waitMs: globals.retryLock,
      onWait: (m) => out.info(m),
      // As restic does: going on without the lock could let a prune elsewhere delete what this adds or reads.
      onLost: (message) => exitAtOnce(`${message}; stopped at once`, ExitCode.lockFailed),
    });
    return {
      release: async () => {
        await taken.release();
        forget();
      },
    };
  } catch (err) {
    forget();
    if (lock === "read" && err instanceof IoError && ["EROFS", "EACCES", "EPERM"].includes(err.code ?? "")) {
      throw new CairnError(`${err.message}: to read a repository on read-only storage, pass --no-lock`);
    }
    throw err;
  }
}

/** Where the repository is, and whether the user named it (only the default is created on use). */
export function repositoryLocation(globals: GlobalOptions): { path: string; explicit: boolean } {
  // An empty --repo is a mistake (an unset variable in a script), not a request for the default.
  if (globals.repo === "") throw new UsageError("--repo: empty path");
  const named = globals.repo ?? process.env.CAIRN_REPOSITORY;
  if (named) return { path: path.resolve(named), explicit: true };
  return { path: defaultRepositoryPath(), explicit: false };
}

async function createDefaultIfMissing(dir: string, out: Output): Promise<void> {
  try {
    await Repository.readConfig(new LocalBackend(dir));
  } catch (err) {
    if (!(err instanceof RepositoryNotFoundError) || err.message.includes("damaged")) throw err;
    await initLocalRepository(dir);
    out.info(`created repository at ${dir} (no --repo or CAIRN_REPOSITORY given)`);
  }
}

/** Everything a command creates in the repository is private; LevelDB creates its files with the umask. */
function makeFilesPrivate(): void {
  process.umask(0o077);
}

/** For commands that need only the backend (snapshot documents, locks), never the index database. */
export async function withBackend<T>(globals: GlobalOptions, out: Output, lock: LockMode, fn: (backend: LocalBackend) => Promise<T>): Promise<T> {
  makeFilesPrivate();
  const location = repositoryLocation(globals);
  if (!location.explicit) await createDefaultIfMissing(location.path, out);
  const backend = new LocalBackend(location.path);
  await Repository.readConfig(backend);
  const held = await acquire(backend, globals, out, lock);
  try {
    return await fn(backend);
  } finally {
    await held?.release();
  }
}

/** Opens the index database of the repository at `dir` (the caller holds the lock it needs), waiting up to --retry-lock. */
export function openSessionRepository(dir: string, globals: GlobalOptions, out: Output, fresh = false): Promise<Repository> {
  return openLocalRepository(dir, { waitMs: globals.retryLock, onWait: (m) => out.info(m), onInfo: (m) => out.info(m), onWarning: (m) => out.warn(m), fresh, readOnlyStorage: globals.noLock });
}

/**
 * Opens the repository for one command, holding the lock the command needs, and always
 * releases both. The lock is taken before the index database so two commands can never wait
 * on each other. The default repository is created on first use; a named one never is. `at`
 * names another repository than --repo (copy's source).
 */
export async function withRepository<T>(globals: GlobalOptions, out: Output, lock: LockMode, fn: (repo: Repository) => Promise<T>, options: { freshIndexDb?: boolean; at?: string } = {}): Promise<T> {
  makeFilesPrivate();
  const location = options.at !== undefined ? { path: path.resolve(options.at), explicit: true } : repositoryLocation(globals);
  if (!location.explicit) await createDefaultIfMissing(location.path, out);
  const backend = new LocalBackend(location.path);
  await Repository.readConfig(backend);
  const held = await acquire(backend, globals, out, lock);
  try {
    const repo = await openSessionRepository(location.path, globals, out, options.freshIndexDb);
    try {
      return await fn(repo);
    } finally {
      await repo.close();
    }
  } finally {
    await held?.release();
  }
}

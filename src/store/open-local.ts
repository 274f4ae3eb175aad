import * as fs from "node:fs/promises";
import * as path from "node:path";
import { AlreadyExistsError, CairnError, ioError, RepositoryNotFoundError } from "../errors.js";
import { LocalBackend } from "./backend/local-backend.js";
import { Repository, type InitOptions } from "./repository.js";
import { cachedIndexDbPath, localIndexDbPath } from "./repository-location.js";

export interface OpenLocalOptions {
  waitMs?: number;
  /** Rebuild the index database from the index files, whatever it holds. */
  fresh?: boolean;
  /**
   * A reader that takes no lock: if the repository cannot be written (read-only storage), its
   * index database goes in the user's cache. Writers never do: the one database per repository
   * is what keeps two of them from taking each other's packs for orphans.
   */
  readOnlyStorage?: boolean;
  onWait?: (message: string) => void;
  onInfo?: (message: string) => void;
  onWarning?: (message: string) => void;
}

/** Checks that `dir` can hold a repository, so init fails before writing anything if it cannot. */
async function checkRepositoryDir(dir: string): Promise<void> {
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new RepositoryNotFoundError(`${dir} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      if (err instanceof CairnError) throw err;
      throw new RepositoryNotFoundError(`${dir}: ${(err as Error).message}`);
    }
  }
}

/**
 * Creates a repository at `dir`. Bad settings and an existing repository are refused before
 * anything is created or changed; a directory that is already there keeps its mode (only one
 * made here is made private).
 */
export async function initLocalRepository(dir: string, options: InitOptions = {}): Promise<void> {
  await checkRepositoryDir(dir);
  Repository.newConfig(options);
  const backend = new LocalBackend(dir);
  if (await hasConfig(dir)) throw new AlreadyExistsError(`a repository already exists at ${backend.location}`);
  try {
    const created = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) await fs.chmod(dir, 0o700);
  } catch (err) {
    throw ioError("cannot create", dir, err);
  }
  await Repository.init(backend, options);
}

async function hasConfig(dir: string): Promise<boolean> {
  try {
    await fs.lstat(path.join(dir, "config"));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return false;
    throw ioError("cannot read", path.join(dir, "config"), err);
  }
}

export async function openLocalRepository(dir: string, options: OpenLocalOptions = {}): Promise<Repository> {
  await checkRepositoryDir(dir);
  const backend = new LocalBackend(dir);
  // Read the config first so a missing repository never gets an index.db created inside it.
  const config = await Repository.readConfig(backend);
  const indexDbPath = options.readOnlyStorage && !(await isWritable(dir)) ? cachedIndexDbPath(config.id) : localIndexDbPath(dir);
  return Repository.open(backend, { ...options, indexDbPath, waitMs: options.waitMs ?? 0 });
}

async function isWritable(dir: string): Promise<boolean> {
  try {
    await fs.access(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

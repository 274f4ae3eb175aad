import * as os from "node:os";
import * as path from "node:path";

/** Where the repository lives when none is named: the user's data directory. */
export function defaultRepositoryPath(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), ".local", "share");
  return path.join(dataHome, "cairn");
}

/** The derived index database of a local repository sits inside it. */
export function localIndexDbPath(repositoryPath: string): string {
  return path.join(repositoryPath, "index.db");
}

/**
 * Where the index database of a repository on read-only storage goes: the user's cache
 * directory, one per repository id (it is derived data, rebuilt there from the index files).
 */
export function cachedIndexDbPath(repositoryId: string, env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), ".cache");
  return path.join(cacheHome, "cairn", repositoryId, "index.db");
}

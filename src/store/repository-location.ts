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

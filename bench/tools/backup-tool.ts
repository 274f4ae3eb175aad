import type { CommandSpec } from "../measure.js";

/** One backup program under test, driven through its own command line. */
export interface BackupTool {
  readonly name: string;
  /** Whether the program is installed here. */
  available(): Promise<boolean>;
  init(repo: string): CommandSpec;
  backup(repo: string, source: string): CommandSpec;
  restoreLatest(repo: string, target: string): CommandSpec;
  checkFullRead(repo: string): CommandSpec;
}

/**
 * A program with restic's command line (`-r REPO`, `init`, `backup`, `restore latest --target`,
 * `check --read-data`): cairn follows it on purpose, so both adapters differ only in how a
 * command is launched and how a repository is created.
 */
export abstract class ResticStyleTool implements BackupTool {
  abstract readonly name: string;
  abstract available(): Promise<boolean>;
  /** The program's argv (and environment) for one command on `repo`. */
  protected abstract cmd(repo: string, ...args: string[]): CommandSpec;
  protected initArgs: readonly string[] = [];

  init(repo: string): CommandSpec {
    return this.cmd(repo, "init", ...this.initArgs);
  }

  backup(repo: string, source: string): CommandSpec {
    return this.cmd(repo, "backup", "--host", "bench", source);
  }

  restoreLatest(repo: string, target: string): CommandSpec {
    return this.cmd(repo, "restore", "latest", "--target", target);
  }

  checkFullRead(repo: string): CommandSpec {
    return this.cmd(repo, "check", "--read-data");
  }
}

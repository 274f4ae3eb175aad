import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { BackupTool } from "./backup-tool.js";

const run = promisify(execFile);
const ENV = { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes", BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes" };

/** borg with encryption off and zstd level 3, the closest match to cairn's defaults. */
export class BorgTool implements BackupTool {
  readonly name = "borg";
  private archive = 0;

  constructor(private readonly baseDir: string) {}

  async available(): Promise<boolean> {
    return run("borg", ["--version"]).then(
      () => true,
      () => false,
    );
  }

  private env() {
    return { ...ENV, BORG_BASE_DIR: this.baseDir };
  }

  init(repo: string) {
    return { argv: ["borg", "init", "--encryption=none", repo], env: this.env() };
  }

  backup(repo: string, source: string) {
    this.archive++;
    return { argv: ["borg", "create", "--compression", "zstd,3", `${repo}::a${this.archive}`, source], env: this.env() };
  }

  /** borg extracts into the working directory. */
  restoreLatest(repo: string, target: string) {
    return { argv: ["borg", "extract", `${repo}::a${this.archive}`], env: this.env(), cwd: target };
  }

  checkFullRead(repo: string) {
    return { argv: ["borg", "check", "--verify-data", repo], env: this.env() };
  }
}

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { BackupTool } from "./backup-tool.js";

const run = promisify(execFile);
// restic always encrypts; a fixed password keeps the run non-interactive.
const ENV = { RESTIC_PASSWORD: "cairn-bench" };

export class ResticTool implements BackupTool {
  readonly name = "restic";

  constructor(private readonly cacheDir: string) {}

  async available(): Promise<boolean> {
    return run("restic", ["version"]).then(
      () => true,
      () => false,
    );
  }

  private cmd(repo: string, ...args: string[]) {
    return { argv: ["restic", "-r", repo, "--quiet", "--cache-dir", this.cacheDir, ...args], env: ENV };
  }

  init(repo: string) {
    return this.cmd(repo, "init");
  }

  backup(repo: string, source: string) {
    return this.cmd(repo, "backup", "--host", "bench", source);
  }

  restoreLatest(repo: string, target: string) {
    return this.cmd(repo, "restore", "latest", "--target", target);
  }

  checkFullRead(repo: string) {
    return this.cmd(repo, "check", "--read-data");
  }
}

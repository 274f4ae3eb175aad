import { fileURLToPath } from "node:url";
import type { BackupTool } from "./backup-tool.js";

const BIN = fileURLToPath(new URL("../../../bin/cairn.js", import.meta.url));

/** cairn from this checkout (compiled dist/), with optional init flags such as chunker sizes. */
export class CairnTool implements BackupTool {
  constructor(
    readonly name = "cairn",
    private readonly initFlags: string[] = [],
  ) {}

  async available(): Promise<boolean> {
    return true;
  }

  private cmd(repo: string, ...args: string[]) {
    return { argv: [process.execPath, BIN, "-r", repo, "--quiet", ...args] };
  }

  init(repo: string) {
    return this.cmd(repo, "init", ...this.initFlags);
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

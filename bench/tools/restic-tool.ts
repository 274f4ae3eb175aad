import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ResticStyleTool } from "./backup-tool.js";
import type { CommandSpec } from "../measure.js";

const run = promisify(execFile);
// restic always encrypts; a fixed password keeps the run non-interactive.
const ENV = { RESTIC_PASSWORD: "cairn-bench" };

export class ResticTool extends ResticStyleTool {
  readonly name = "restic";

  constructor(private readonly cacheDir: string) {
    super();
  }

  async available(): Promise<boolean> {
    return run("restic", ["version"]).then(
      () => true,
      () => false,
    );
  }

  protected cmd(repo: string, ...args: string[]): CommandSpec {
    return { argv: ["restic", "-r", repo, "--quiet", "--cache-dir", this.cacheDir, ...args], env: ENV };
  }
}

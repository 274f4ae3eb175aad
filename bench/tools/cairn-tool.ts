import { fileURLToPath } from "node:url";
import { ResticStyleTool } from "./backup-tool.js";
import type { CommandSpec } from "../measure.js";

const BIN = fileURLToPath(new URL("../../../bin/cairn.js", import.meta.url));

/** cairn from this checkout (compiled dist/), with optional init flags such as chunker sizes. */
export class CairnTool extends ResticStyleTool {
  constructor(
    readonly name = "cairn",
    initFlags: string[] = [],
  ) {
    super();
    this.initArgs = initFlags;
  }

  async available(): Promise<boolean> {
    return true;
  }

  protected cmd(repo: string, ...args: string[]): CommandSpec {
    return { argv: [process.execPath, BIN, "-r", repo, "--quiet", ...args] };
  }
}

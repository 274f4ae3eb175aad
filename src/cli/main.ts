import { CommanderError } from "commander";
import { CairnError, ExitCode } from "../errors.js";
import { buildProgram } from "./program.js";

/** Runs the CLI: every failure becomes one line on stderr and a documented exit code. */
export async function main(argv: string[]): Promise<number> {
  // `cairn ls … | head`: a reader that goes away is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(ExitCode.ok);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof CairnError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`cairn: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return ExitCode.fatal;
  }
}

import { CommanderError } from "commander";
import { CairnError, ExitCode, ioError } from "../errors.js";
import { handleInterrupts } from "./abort-on-signals.js";
import { buildProgram } from "./program.js";

/** Thrown by every write to stdout once one has failed; carries that first failure. */
class StdoutFailed extends Error {
  constructor(readonly failure: NodeJS.ErrnoException) {
    super(`write standard output: ${failure.message}`);
  }
}

/**
 * Once stdout has failed (EPIPE: `cairn ls … | head` has read enough), the next write throws,
 * so the command stops through its own `finally` blocks like on any error: its lock is
 * released and the index database closed. Exiting from the "error" event left the lock behind.
 */
function stopOnStdoutFailure(): () => NodeJS.ErrnoException | undefined {
  let failure: NodeJS.ErrnoException | undefined;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    const first = (failure ??= err);
    process.stdout.write = (): never => {
      throw new StdoutFailed(first);
    };
  });
  return () => failure;
}

/** A reader that went away is not an error; any other failure to write the output is. */
function reportStdoutFailure(failure: NodeJS.ErrnoException): number {
  if (failure.code === "EPIPE") return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  process.stderr.write(`cairn: ${ioError("write", "standard output", failure).message}\n`);
  return ExitCode.fatal;
}

/** Runs the CLI: every failure becomes one line on stderr and a documented exit code. */
export async function main(argv: string[]): Promise<number> {
  const stdoutFailure = stopOnStdoutFailure();
  const stopHandlingInterrupts = handleInterrupts();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    const failure = stdoutFailure();
    if (failure) return reportStdoutFailure(failure);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof StdoutFailed) return reportStdoutFailure(err.failure);
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
  } finally {
    stopHandlingInterrupts();
  }
}

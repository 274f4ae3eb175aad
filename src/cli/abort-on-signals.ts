import { ExitCode, type ExitCodeValue } from "../errors.js";

/** abortOnSignals calls running now: a signal then goes to them. */
let cancellable = 0;
/** Signals received while cancellable work ran: a second one does not wait for it. */
let received = 0;
const exitCleanups = new Set<() => void>();

/**
 * Runs `fn` with SIGINT and SIGTERM aborting the signal it is given instead of killing the
 * process, so that the command stops at its next safe point, releases its lock and exits with
 * 130. A caller that aborts other work on the same signal passes its own controller. A second
 * signal does not wait for the safe point (see handleInterrupts).
 */
export async function abortOnSignals<T>(fn: (signal: AbortSignal) => Promise<T>, controller = new AbortController()): Promise<T> {
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  cancellable++;
  try {
    return await fn(controller.signal);
  } finally {
    cancellable--;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * Registers what must be undone if the process exits on a signal (a lock object to remove);
 * returns the call that unregisters it. Each runs synchronously, best effort.
 */
export function atInterruptExit(cleanup: () => void): () => void {
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

/**
 * Ends the process now, as a crash would (the repository is built to stay consistent through
 * one), after the cleanups atInterruptExit registered, with one line on stderr.
 */
export function exitAtOnce(message: string, code: ExitCodeValue): never {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is going anyway, and a lock left behind goes stale.
    }
  }
  process.stderr.write(`cairn: ${message}\n`);
  process.exit(code);
}

/**
 * For the whole of a command: a SIGINT or SIGTERM outside cancellable work (taking the lock,
 * opening the index database, commands that have no safe point to stop at), or a second one
 * during it, exits at once with 130, but first removes what atInterruptExit registered, so no
 * lock object is left to block other hosts for half an hour. Returns the call that removes the
 * handlers.
 */
export function handleInterrupts(): () => void {
  const onSignal = () => {
    if (cancellable > 0 && received++ === 0) return;
    exitAtOnce("interrupted", ExitCode.interrupted);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    received = 0;
  };
}

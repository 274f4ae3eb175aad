/**
 * Runs `fn` with SIGINT and SIGTERM aborting the signal it is given instead of killing the
 * process, so that the command stops at its next safe point, releases its lock and exits with
 * 130. A caller that aborts other work on the same signal passes its own controller.
 */
export async function abortOnSignals<T>(fn: (signal: AbortSignal) => Promise<T>, controller = new AbortController()): Promise<T> {
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

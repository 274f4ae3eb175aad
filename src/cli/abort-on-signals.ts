/**
 * Runs `fn` with SIGINT and SIGTERM aborting `controller` instead of killing the process, so
 * that the command stops at its next safe point, releases its lock and exits with 130.
 */
export async function abortOnSignals<T>(controller: AbortController, fn: () => Promise<T>): Promise<T> {
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await fn();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

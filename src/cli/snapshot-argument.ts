import { UsageError } from "../errors.js";

/** Splits restic's `SNAPSHOT:PATH` form into the selector and the path inside the snapshot. */
export function splitSnapshotPath(argument: string): { selector: string; path?: string } {
  const colon = argument.indexOf(":");
  if (colon < 0) return { selector: argument };
  const selector = argument.slice(0, colon);
  const path = argument.slice(colon + 1);
  if (!path.startsWith("/")) throw new UsageError(`path in ${JSON.stringify(argument)} must be absolute, e.g. latest:/home`);
  return { selector, path };
}

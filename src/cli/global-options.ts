import type { Command } from "commander";
import { parseDuration } from "./parse-options.js";

/** Options every command accepts. */
export interface GlobalOptions {
  repo?: string;
  json: boolean;
  quiet: boolean;
  retryLock: number;
  /** Read without locking the repository (read-only storage). */
  noLock: boolean;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option("-r, --repo <path>", "repository location (default: $CAIRN_REPOSITORY, else ~/.local/share/cairn)")
    .option("--json", "print machine-readable JSON (one object per line)", false)
    .option("-q, --quiet", "print only errors, warnings and what was asked for (listings, tables): no progress or summaries", false)
    .option("--retry-lock <duration>", "wait this long for a repository lock (e.g. 30s, 5m)", "0")
    .option("--no-lock", "read without locking the repository, for one on read-only storage (only for commands that read it; never while another process may change it)");
}

export function globalOptions(command: Command): GlobalOptions {
  const raw = command.optsWithGlobals<{ repo?: string; json: boolean; quiet: boolean; retryLock: string; lock: boolean }>();
  const options: GlobalOptions = { json: raw.json, quiet: raw.quiet, retryLock: parseDuration(raw.retryLock, "--retry-lock"), noLock: raw.lock === false };
  if (raw.repo !== undefined) options.repo = raw.repo;
  return options;
}

import * as path from "node:path";
import type { BackupSource } from "../backup/backup-source.js";
import { PathSource } from "../backup/path-source.js";
import { UsageError } from "../errors.js";
import { StreamSource } from "../sources/stream-source.js";

export interface SourceFlags {
  stdin: boolean;
  stdinFilename: string;
  stdinFromCommand: boolean;
}

/**
 * One kind of positional argument to `cairn backup`. Kinds are tried in order and the first
 * whose `matches` accepts the argument makes the source; plain paths come last, so a kind
 * with a prefix of its own (`docker:`, `postgres://`) goes before them.
 */
export interface SourceKind {
  matches(argument: string): boolean;
  create(argument: string): Promise<BackupSource>;
}

const pathKind: SourceKind = {
  matches: () => true,
  async create(argument) {
    const source = new PathSource(argument);
    await source.check();
    return source;
  },
};

export const SOURCE_KINDS: SourceKind[] = [pathKind];

/** Turns the arguments of `cairn backup` into sources, failing before anything is written. */
export async function backupSources(args: readonly string[], flags: SourceFlags): Promise<BackupSource[]> {
  if (flags.stdin && flags.stdinFromCommand) throw new UsageError("--stdin and --stdin-from-command cannot be used together");
  if (flags.stdin || flags.stdinFromCommand) {
    const file = stdinPath(flags.stdinFilename);
    if (flags.stdin) {
      if (args.length > 0) throw new UsageError("--stdin takes no paths: the data comes from standard input");
      return [new StreamSource({ path: file, input: process.stdin })];
    }
    const [command, ...commandArgs] = args;
    if (!command) throw new UsageError("--stdin-from-command needs a command: cairn backup --stdin-from-command -- CMD ARGS...");
    return [new StreamSource({ path: file, input: { command, args: commandArgs } })];
  }
  if (args.length === 0) throw new UsageError("nothing to back up: give at least one path (or --stdin)");
  const sources: BackupSource[] = [];
  for (const argument of args) sources.push(await SOURCE_KINDS.find((kind) => kind.matches(argument))!.create(argument));
  return sources;
}

/** Where --stdin-filename puts the stream: /NAME in the snapshot. */
function stdinPath(name: string): string {
  const normalized = path.posix.normalize("/" + name);
  if (name === "" || normalized === "/" || normalized.endsWith("/") || name.split("/").includes("..")) {
    throw new UsageError(`--stdin-filename: not a usable file name: ${JSON.stringify(name)}`);
  }
  return normalized;
}

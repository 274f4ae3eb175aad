import * as path from "node:path";
import type { BackupSource } from "../backup/backup-source.js";
import { PathSource } from "../backup/path-source.js";
import { UsageError } from "../errors.js";
import { StreamSource } from "../sources/stream-source.js";
import { DOCKER_ALL, isDockerUri, parseLabelSelector } from "../sources/docker/docker-uri.js";
import { dockerSource } from "../sources/docker/docker-source.js";
import { DUMP_FORMATS, type DumpFormat } from "../sources/postgres/dump-layout.js";
import { PgDumpSource } from "../sources/postgres/pg-dump-source.js";
import { PostgresUri } from "../sources/postgres/postgres-uri.js";

export interface SourceFlags {
  stdin: boolean;
  stdinFilename: string;
  stdinFromCommand: boolean;
  /** For postgres:// sources. */
  pgFormat?: string;
  allDatabases?: boolean;
  pgBin?: string;
  /** For docker: sources: --docker-label selectors, and --no-pause (pause false). */
  dockerLabel?: string[];
  pause?: boolean;
}

/**
 * One kind of positional argument to `cairn backup`. Kinds are tried in order and the first
 * whose `matches` accepts the argument makes the source; plain paths come last, so a kind
 * with a prefix of its own (`docker:`, `postgres://`) goes before them.
 */
export interface SourceKind {
  matches(argument: string): boolean;
  create(argument: string, flags: SourceFlags): Promise<BackupSource>;
}

const pathKind: SourceKind = {
  matches: () => true,
  async create(argument) {
    const source = new PathSource(argument);
    await source.check();
    return source;
  },
};

const postgresKind: SourceKind = {
  matches: (argument) => PostgresUri.isPostgresUri(argument),
  async create(argument, flags) {
    const format = (flags.pgFormat ?? "plain") as DumpFormat;
    if (!DUMP_FORMATS.includes(format)) throw new UsageError(`--pg-format must be one of ${DUMP_FORMATS.join(", ")}`);
    const source = new PgDumpSource({ uri: argument, format, allDatabases: flags.allDatabases ?? false, binDir: flags.pgBin });
    await source.check();
    return source;
  },
};

const dockerKind: SourceKind = {
  matches: (argument) => isDockerUri(argument),
  async create(argument, flags) {
    // Every docker: argument of one backup shares the flags object, hence one engine session.
    const source = dockerSource(argument, { pause: flags.pause ?? true, labels: (flags.dockerLabel ?? []).map(parseLabelSelector) }, flags);
    await source.check();
    return source;
  },
};

export const SOURCE_KINDS: SourceKind[] = [dockerKind, postgresKind, pathKind];

/**
 * Turns the arguments of `cairn backup` into sources, failing before anything is written.
 * `listed`: the paths --files-from lists named, which are paths whatever they look like.
 */
export async function backupSources(args: readonly string[], flags: SourceFlags, listed: readonly string[] = []): Promise<BackupSource[]> {
  if (flags.stdin && flags.stdinFromCommand) throw new UsageError("--stdin and --stdin-from-command cannot be used together");
  if (flags.stdin || flags.stdinFromCommand) {
    const file = stdinPath(flags.stdinFilename);
    if (flags.stdin) {
      if (args.length > 0) throw new UsageError("--stdin takes no paths: the data comes from standard input");
      // Waiting for someone to type a backup is never what was meant.
      if (process.stdin.isTTY) throw new UsageError("--stdin: standard input is a terminal; pipe the data in (e.g. pg_dump db | cairn backup --stdin)");
      return [new StreamSource({ path: file, input: process.stdin })];
    }
    const [command, ...commandArgs] = args;
    if (!command) throw new UsageError("--stdin-from-command needs a command: cairn backup --stdin-from-command -- CMD ARGS...");
    return [new StreamSource({ path: file, input: { command, args: commandArgs } })];
  }
  if ((flags.dockerLabel?.length ?? 0) > 0) {
    // --docker-label alone means the labelled containers and volumes: docker:all, filtered.
    if (!args.some(isDockerUri)) args = [...args, DOCKER_ALL];
    else if (!args.includes(DOCKER_ALL)) throw new UsageError("--docker-label selects what docker:all takes: add docker:all");
  }
  if (args.length === 0 && listed.length === 0) throw new UsageError("nothing to back up: give at least one path (or --stdin)");
  if ((flags.allDatabases || (flags.pgFormat ?? "plain") !== "plain") && !args.some((a) => PostgresUri.isPostgresUri(a))) throw new UsageError("--all-databases and --pg-format go with a postgres:// source");
  const sources: BackupSource[] = [];
  const kinds = [...listed.map((path) => ({ argument: path, kind: pathKind })), ...args.map((argument) => ({ argument, kind: SOURCE_KINDS.find((kind) => kind.matches(argument))! }))];
  for (const { argument, kind } of kinds) {
    const source = await kind.create(argument, flags);
    // `dir`, `dir/` and `./dir` are one path: recorded once, so the snapshot's paths match the next backup's.
    if (source instanceof PathSource && sources.some((s) => s instanceof PathSource && s.path === source.path)) continue;
    sources.push(source);
  }
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

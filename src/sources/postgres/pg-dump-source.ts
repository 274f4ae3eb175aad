import type { Readable } from "node:stream";
import type { BlobSink } from "../../backup/blob-sink.js";
import type { BackupContext } from "../../backup/backup-context.js";
import type { BackupSource } from "../../backup/backup-source.js";
import type { ParentLookup } from "../../backup/parent-lookup.js";
import { saveContent, type SavedContent } from "../../backup/file-saver.js";
import { syntheticDirNode, type SnapshotTreeBuilder } from "../../backup/snapshot-tree-builder.js";
import { CairnError, InterruptedError, UsageError } from "../../errors.js";
import { formatNanos } from "../../store/tree/time.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { sameDefinition } from "./create-database-script.js";
import { saveDumpContent } from "./dump-content.js";
import { CREATE_DATABASE_DIR, createDatabaseFileName, dumpFileName, GLOBALS_FILE, POSTGRES_DIR, safeName, type DumpFormat } from "./dump-layout.js";
import { PostgresUri } from "./postgres-uri.js";
import { PgProcess, runPgTool, type PgTool, type PgToolOptions } from "./pg-tools.js";

export interface PgDumpOptions extends PgToolOptions {
  /** libpq connection URI, passed to pg_dump as given. */
  uri: string;
  /** plain (default: SQL text, which deduplicates well from day to day) or custom. */
  format?: DumpFormat;
  /** Dump the globals and every database of the server instead of one database. */
  allDatabases?: boolean;
}

/** What the server says about itself before anything is dumped. */
interface ServerFacts {
  serverVersion: string;
  pgDumpVersion: string;
  databases: string[];
}

/** Databases pg_dumpall would dump: every one that accepts connections (template0 does not). */
const LIST_DATABASES = "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname";

/**
 * How a database's own definition is taken: a schema-only archive of it with `--create` (nothing
 * of its schemas), of which pg_restore prints only the database's entries (a schema name longer
 * than PostgreSQL allows matches nothing else). In the database's own encoding, as pg_dumpall
 * takes it: a comment written from a database of another encoding may not convert.
 */
const DEFINITION_DUMP_OPTIONS = ["--no-password", "--format=custom", "--create", "--schema-only", "--exclude-schema=*"];
const DEFINITION_RESTORE_OPTIONS = ["--create", `--schema=${"x".repeat(64)}`, "--file=-"];

/** One program of a dump: its output goes to the next one's input, the last one's into the repository. */
interface PgCommand {
  tool: PgTool;
  args: string[];
}

/** The database an all-databases backup connects to first, as pg_dumpall does. */
const MAINTENANCE_DATABASE = "postgres";

/**
 * A PostgreSQL database (or a whole server) dumped with pg_dump into the snapshot as
 * `/postgres/<server>/<dbname>.sql`. The dump streams straight into the repository; pg_dump's
 * exit status is awaited before archive() returns, so a dump that fails for any reason (refused
 * connection, bad password, killed half-way) throws and no snapshot is written.
 */
export class PgDumpSource implements BackupSource {
  readonly path: string;
  private readonly uri: PostgresUri;
  private readonly format: DumpFormat;
  private readonly serverDir: string;
  private probed: Promise<ServerFacts> | undefined;
  private readonly recorded: Record<string, string> = {};

  constructor(private readonly options: PgDumpOptions) {
    this.uri = PostgresUri.parse(options.uri);
    this.format = options.format ?? "plain";
    this.serverDir = safeName(this.uri.serverName());
    const database = this.uri.database;
    if (!options.allDatabases && database === undefined) {
      throw new UsageError(`${this.uri.redacted()}: name the database (postgres://host/DBNAME), or add --all-databases to dump the whole server`);
    }
    this.path = `/${POSTGRES_DIR}/${this.serverDir}` + (options.allDatabases ? "" : `/${dumpFileName(database!, this.format)}`);
  }

  get facts(): Record<string, string> {
    return this.recorded;
  }

  /** Connects once before the backup starts, so a wrong password or a down server fails early. */
  async check(): Promise<void> {
    await this.probe();
  }

  async archive(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup): Promise<void> {
    const server = await this.probe();
    const dir = [POSTGRES_DIR, this.serverDir];
    const dumpArgs = ["--no-password", `--format=${this.format}`, ...(this.format === "custom" ? ["--compress=0"] : [])];
    Object.assign(this.recorded, {
      "postgres.server": this.uri.redacted(),
      "postgres.server_version": server.serverVersion,
      "postgres.pg_dump_version": server.pgDumpVersion,
      "postgres.format": this.format,
      "postgres.dump_options": dumpArgs.join(" "),
      "postgres.definition_options": `${DEFINITION_DUMP_OPTIONS.join(" ")} | pg_restore ${DEFINITION_RESTORE_OPTIONS.join(" ")}`,
    });
    const dumpDatabase = async (database: string, uri: string, name: string) => {
      await this.dump(ctx, tree, parent, dir, name, this.format === "plain" ? saveDumpContent : saveContent, [{ tool: "pg_dump", args: [`--dbname=${uri}`, ...dumpArgs] }]);
      if (/[\n\r]/.test(database)) {
        // pg_restore refuses such a name (it could not be \connect-ed to in a script): pg_dumpall fails on it.
        const path = `/${[...dir, name].join("/")}`;
        ctx.warn({ path, message: "the database's name holds a line break, so its definition (owner, encoding, settings, grants) cannot be taken; restore --create makes a plain database" });
        return;
      }
      await this.dump(ctx, tree, parent, [...dir, CREATE_DATABASE_DIR], createDatabaseFileName(name), saveDefinition, [
        { tool: "pg_dump", args: [`--dbname=${uri}`, ...DEFINITION_DUMP_OPTIONS] },
        { tool: "pg_restore", args: DEFINITION_RESTORE_OPTIONS },
      ]);
    };
    if (!this.options.allDatabases) {
      await dumpDatabase(this.uri.database!, this.options.uri, dumpFileName(this.uri.database!, this.format));
      return;
    }
    this.recorded["postgres.databases"] = server.databases.join(",");
    this.recorded["postgres.dumpall_options"] = "--globals-only --no-password";
    await this.dump(ctx, tree, parent, dir, GLOBALS_FILE, saveDumpContent, [{ tool: "pg_dumpall", args: [`--dbname=${this.options.uri}`, "--globals-only", "--no-password"] }]);
    const names = new Set([GLOBALS_FILE]);
    for (const database of server.databases) {
      const name = dumpFileName(database, this.format);
      if (names.has(name)) throw new CairnError(`database ${JSON.stringify(database)} would be stored as ${name}, which is taken: back it up on its own`);
      names.add(name);
      await dumpDatabase(database, this.uri.withDatabase(database), name);
    }
  }

  private probe(): Promise<ServerFacts> {
    this.probed ??= (async () => {
      const connect = this.options.allDatabases ? this.uri.withDatabase(this.uri.database ?? MAINTENANCE_DATABASE) : this.options.uri;
      const query = (sql: string, args: string[] = []) =>
        runPgTool("psql", ["--no-psqlrc", "--no-password", "--quiet", "--no-align", "--tuples-only", ...args, `--dbname=${connect}`, "--command", sql], this.options);
      try {
        const pgDumpVersion = (await runPgTool("pg_dump", ["--version"], this.options)).trim();
        const serverVersion = (await query("SHOW server_version")).trim();
        const databases = this.options.allDatabases ? (await query(LIST_DATABASES, ["--record-separator-zero"])).split("\0").filter(Boolean) : [];
        return { serverVersion, pgDumpVersion, databases };
      } catch (err) {
        throw this.failure(err, "; no snapshot was written");
      }
    })();
    return this.probed;
  }

  /**
   * Streams the output of a program (or of programs piped into each other) into the repository
   * as the file `dir/name`, then waits for their exit status: anything but 0 throws, so the
   * snapshot is never written.
   */
  private async dump(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup, dir: string[], name: string, save: SaveOutput, commands: PgCommand[]): Promise<void> {
    if (ctx.signal?.aborted) throw new InterruptedError();
    const components = [...dir, name];
    const started = new Date();
    tree.ensureDir(dir, (depth) => syntheticDirNode(dir[depth]!, started));
    ctx.onFile?.("/" + components.join("/"));
    ctx.counters.filesRead++;
    const previous = await parent.nodeAt(components);
    const procs = commands.map(({ tool, args }, i) => PgProcess.start(tool, args, { ...this.options, stdin: i > 0, stdout: true }));
    procs.slice(1).forEach((proc, i) => procs[i]!.stdout.pipe(proc.stdin));
    const output = procs.at(-1)!.stdout;
    const stop = () => procs.forEach((proc) => proc.kill());
    ctx.signal?.addEventListener("abort", stop);
    let saved: SavedContent;
    try {
      const onBytes = (n: number) => (ctx.counters.bytesProcessed += n);
      saved = await save(ctx.repo, output, onBytes, previous);
      await finishAll(procs);
    } catch (err) {
      stop();
      await finishAll(procs).catch(() => {});
      if (ctx.signal?.aborted) throw new InterruptedError();
      // One database's dump is the whole backup: its file goes without saying.
      const file = this.options.allDatabases || dir.includes(CREATE_DATABASE_DIR) ? "/" + components.join("/") : undefined;
      throw this.failure(err, err instanceof CairnError ? "; no snapshot was written" : "", file);
    } finally {
      ctx.signal?.removeEventListener("abort", stop);
    }
    ctx.counters.filesProcessed++;
    if (previous?.type !== "file") ctx.counters.filesNew++;
    else if (previous.content?.join() === saved.content.join()) ctx.counters.filesUnmodified++;
    else ctx.counters.filesChanged++;
    tree.put(dir, {
      name,
      type: "file",
      mode: 0o600, // a dump holds every row of the database
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      mtime: formatNanos(BigInt(started.getTime()) * 1_000_000n),
      size: saved.size,
      content: saved.content,
    });
  }

  /** Names the server (and the file, where that says more) in the message of a failure. */
  private failure(err: unknown, outcome = "", file?: string): Error {
    if (!(err instanceof CairnError) || err instanceof InterruptedError) return err as Error;
    return new CairnError(`backup of ${this.uri.redacted()} failed: ${file ? `${file}: ` : ""}${err.message}${outcome}`);
  }
}

/** How a program's output is stored; `previous` is the parent snapshot's file of the same name. */
type SaveOutput = (repo: BlobSink, output: Readable, onBytes: (n: number) => void, previous: TreeNode | undefined) => Promise<SavedContent>;

/** A database's definition is small: read whole, and yesterday's file kept when only its random keys differ. */
async function saveDefinition(repo: BlobSink, output: Readable, onBytes: (n: number) => void, previous: TreeNode | undefined): Promise<SavedContent> {
  const parts: Buffer[] = [];
  for await (const part of output) {
    parts.push(part as Buffer);
    onBytes((part as Buffer).length);
  }
  const bytes = Buffer.concat(parts);
  if (previous?.type === "file" && previous.content) {
    const before = await Promise.all(previous.content.map((id) => repo.loadBlob(id))).catch(() => undefined);
    if (before && sameDefinition(Buffer.concat(before), bytes)) return { content: previous.content, size: previous.size ?? bytes.length };
  }
  return saveContent(repo, [bytes]);
}

/**
 * Waits for every program of a pipe. One that fails stops the others (a program before it would
 * wait forever to write into the pipe); the failure reported is the first in pipe order that
 * cairn did not cause by stopping it.
 */
async function finishAll(procs: readonly PgProcess[]): Promise<void> {
  const stopped = new Set<PgProcess>();
  const outcomes = await Promise.allSettled(
    procs.map((proc) =>
      proc.finish().catch((err: unknown) => {
        for (const other of procs) if (other.kill()) stopped.add(other);
        throw err;
      }),
    ),
  );
  const failures = outcomes.flatMap((outcome, i) => (outcome.status === "rejected" ? [{ proc: procs[i]!, reason: outcome.reason as unknown }] : []));
  const cause = failures.find((failure) => !stopped.has(failure.proc)) ?? failures[0];
  if (cause) throw cause.reason;
}

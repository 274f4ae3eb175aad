import type { BackupContext } from "../../backup/backup-context.js";
import type { BackupSource } from "../../backup/backup-source.js";
import type { ParentLookup } from "../../backup/parent-lookup.js";
import { saveContent, type SavedContent } from "../../backup/file-saver.js";
import { syntheticDirNode, type SnapshotTreeBuilder } from "../../backup/snapshot-tree-builder.js";
import { CairnError, InterruptedError, UsageError } from "../../errors.js";
import { formatNanos } from "../../store/tree/time.js";
import { saveDumpContent } from "./dump-content.js";
import { dumpFileName, GLOBALS_FILE, POSTGRES_DIR, safeName, type DumpFormat } from "./dump-layout.js";
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
    });
    if (!this.options.allDatabases) {
      await this.dump(ctx, tree, parent, dir, dumpFileName(this.uri.database!, this.format), "pg_dump", [`--dbname=${this.options.uri}`, ...dumpArgs]);
      return;
    }
    this.recorded["postgres.databases"] = server.databases.join(",");
    this.recorded["postgres.dumpall_options"] = "--globals-only --no-password";
    await this.dump(ctx, tree, parent, dir, GLOBALS_FILE, "pg_dumpall", [`--dbname=${this.options.uri}`, "--globals-only", "--no-password"]);
    const names = new Set([GLOBALS_FILE]);
    for (const database of server.databases) {
      const name = dumpFileName(database, this.format);
      if (names.has(name)) throw new CairnError(`database ${JSON.stringify(database)} would be stored as ${name}, which is taken: back it up on its own`);
      names.add(name);
      await this.dump(ctx, tree, parent, dir, name, "pg_dump", [`--dbname=${this.uri.withDatabase(database)}`, ...dumpArgs]);
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
   * Streams one program's output into the repository as the file `dir/name`, then waits for the
   * program's exit status: anything but 0 throws, so the snapshot is never written.
   */
  private async dump(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup, dir: string[], name: string, tool: PgTool, args: string[]): Promise<void> {
    if (ctx.signal?.aborted) throw new InterruptedError();
    const components = [...dir, name];
    const started = new Date();
    tree.ensureDir(dir, (depth) => syntheticDirNode(dir[depth]!, started));
    ctx.onFile?.("/" + components.join("/"));
    ctx.counters.filesRead++;
    const proc = PgProcess.start(tool, args, { ...this.options, stdout: true });
    const stop = () => proc.kill();
    ctx.signal?.addEventListener("abort", stop);
    let saved: SavedContent;
    try {
      const onBytes = (n: number) => (ctx.counters.bytesProcessed += n);
      saved = this.format === "plain" || tool === "pg_dumpall" ? await saveDumpContent(ctx.repo, proc.stdout, onBytes) : await saveContent(ctx.repo, proc.stdout, onBytes);
      await proc.finish();
    } catch (err) {
      proc.kill();
      await proc.finish().catch(() => {});
      if (ctx.signal?.aborted) throw new InterruptedError();
      throw this.failure(err, err instanceof CairnError ? "; no snapshot was written" : "");
    } finally {
      ctx.signal?.removeEventListener("abort", stop);
    }
    const previous = await parent.nodeAt(components);
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

  /** Names the database in the message of a failure. */
  private failure(err: unknown, outcome = ""): Error {
    if (!(err instanceof CairnError) || err instanceof InterruptedError) return err as Error;
    return new CairnError(`backup of ${this.uri.redacted()} failed: ${err.message}${outcome}`);
  }
}

import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CairnError, IntegrityError, InterruptedError, UsageError } from "../../errors.js";
import type { Id } from "../../store/id.js";
import type { Repository } from "../../store/repository.js";
import { findNode, findNodeIfPresent, walkTree } from "../../store/tree/tree-walker.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { planCreateDatabase, type CreateDatabaseScript } from "./create-database-script.js";
import { CREATE_DATABASE_DIR, createDatabaseFileName, dumpFormatOf, GLOBALS_FILE, POSTGRES_DIR, type DumpFormat } from "./dump-layout.js";
import { withoutExistingGlobals, type ExistingGlobals } from "./globals-script.js";
import { withoutLargeObjectTransactions } from "./plain-dump-transactions.js";
import { PostgresUri } from "./postgres-uri.js";
import { PgProcess, psqlValues, READ_WRITE, runPsql, type PgToolOptions } from "./pg-tools.js";

export interface PostgresRestoreOptions extends PgToolOptions {
  /** libpq URI of the database to restore into. */
  target: string;
  /**
   * Create the target database first (through the server's `postgres` database): as it was
   * (owner, encoding, locale, settings, grants) when the snapshot holds its definition.
   */
  create?: boolean;
  /** The dump inside the snapshot; by default the snapshot's only database dump. */
  path?: string;
  /** Stops sending the dump (InterruptedError): the program is killed and nothing is committed. */
  signal?: AbortSignal;
  onInfo?: (message: string) => void;
}

export interface PostgresRestoreResult {
  /** The dump restored, as a path inside the snapshot. */
  path: string;
  format: DumpFormat;
  /** The target URI without its password. */
  target: string;
  bytes: number;
  created: boolean;
  /** Whether the database was created from its stored definition (and its settings, grants and comment set). */
  asItWas: boolean;
}

interface DumpFile {
  path: string;
  node: TreeNode;
  format: DumpFormat;
}

/** `/postgres/<server>/create-database/<file>`: a database's definition, not a dump. */
function isDefinition(path: string): boolean {
  const parts = path.split("/");
  return parts.length === 5 && parts[1] === POSTGRES_DIR && parts[3] === CREATE_DATABASE_DIR;
}

/** The dump to restore: the one named, or the only database dump in the snapshot. */
async function chooseDump(repo: Repository, rootTree: Id, path: string | undefined): Promise<DumpFile> {
  if (path !== undefined) {
    const node = await findNode(repo, rootTree, path);
    const format = node?.type === "file" ? dumpFormatOf(node.name) : undefined;
    if (!node || !format) throw new UsageError(`${path} is not a PostgreSQL dump (a .sql or .dump file under /${POSTGRES_DIR})`);
    if (isDefinition(path)) throw new UsageError(`${path} is the definition of a database, not a dump: restore its dump with --create, which uses it`);
    return { path, node, format };
  }
  const root = await repo.loadTree(rootTree);
  if (!root.some((n) => n.name === POSTGRES_DIR && n.type === "dir")) throw new UsageError(`the snapshot holds no PostgreSQL dump (nothing under /${POSTGRES_DIR})`);
  const dumps: DumpFile[] = [];
  for await (const { path: p, node } of walkTree(repo, rootTree, { start: `/${POSTGRES_DIR}` })) {
    const format = node.type === "file" ? dumpFormatOf(node.name) : undefined;
    if (format && node.name !== GLOBALS_FILE && !isDefinition(p)) dumps.push({ path: p, node, format });
  }
  if (dumps.length === 1) return dumps[0]!;
  if (dumps.length === 0) throw new UsageError(`the snapshot holds no PostgreSQL database dump under /${POSTGRES_DIR}`);
  throw new UsageError(`the snapshot holds ${dumps.length} database dumps (${dumps.map((d) => d.path).join(", ")}): choose one with SNAPSHOT:PATH`);
}

/** Every blob of a file must be in the index (and, given the pack listing, in a pack that exists) before the target database is touched. */
export function checkComplete(repo: Repository, file: { path: string; node: TreeNode }, packs?: ReadonlyMap<Id, number>): void {
  for (const id of file.node.content ?? []) {
    const location = repo.lookupBlob(id);
    if (!location) throw new IntegrityError(`${file.path}: data blob ${id} is missing from the repository; nothing was restored`);
    if (packs && !packs.has(location.packId)) throw new IntegrityError(`${file.path}: data blob ${id} is in pack ${location.packId}, which is missing; nothing was restored (cairn check tells more)`);
  }
}

/** The stored definition of the dumped database, beside the dump; older snapshots have none. */
async function storedDefinition(repo: Repository, rootTree: Id, dump: DumpFile): Promise<{ path: string; node: TreeNode } | undefined> {
  const path = [...dump.path.split("/").slice(0, -1), CREATE_DATABASE_DIR, createDatabaseFileName(dump.node.name)].join("/");
  const node = await findNodeIfPresent(repo, rootTree, path);
  return node?.type === "file" ? { path, node } : undefined;
}

/** A stored file's bytes, every blob verified. */
export async function readWhole(repo: Repository, content: readonly Id[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of dumpBytes(repo, content)) parts.push(part);
  return Buffer.concat(parts);
}

/** The dump's bytes, each blob verified against its hash as it is read; the next one is read ahead. */
async function* dumpBytes(repo: Repository, content: readonly Id[]): AsyncGenerator<Buffer> {
  const load = (i: number): Promise<Buffer> | undefined => {
    if (i >= content.length) return undefined;
    const p = repo.loadBlob(content[i]!);
    p.catch(() => {}); // awaited below; this only keeps an abandoned read-ahead from being "unhandled"
    return p;
  };
  let next = load(0);
  for (let i = 0; next; i++) {
    const current = await next;
    next = load(i + 1);
    yield current;
  }
}

async function databaseExists(maintenance: string, database: string, options: PgToolOptions): Promise<boolean> {
  return (await runPsql(maintenance, "SELECT count(*) FROM pg_database WHERE datname = :'db';\n", options, [`--set=db=${database}`])).trim() !== "0";
}

/**
 * Creates the target database: from its stored definition when there is one, else a plain
 * database. psql quotes the name itself (:"db"), so any name is safe. From template0, as
 * pg_dump's documentation asks: what a site added to template1 would clash with the dump's.
 * A definition's CREATE DATABASE and the statements after it cannot share a transaction: when
 * one of those fails (or is interrupted), the database exists, empty, and the message says so.
 */
async function createDatabase(target: PostgresUri, database: string, definition: CreateDatabaseScript | undefined, options: PostgresRestoreOptions): Promise<void> {
  const maintenance = target.withDatabase("postgres");
  const name = JSON.stringify(database);
  if (await databaseExists(maintenance, database, options)) throw new CairnError(`could not create database ${name}: database ${name} already exists`);
  try {
    if (definition) await runPsql(maintenance, definition.create, options);
    else await runPsql(maintenance, 'CREATE DATABASE :"db" TEMPLATE template0;\n', options, [`--set=db=${database}`]);
  } catch (err) {
    // Asked without the stop signal, which has fired if this was an interruption.
    const created = await databaseExists(maintenance, database, { binDir: options.binDir }).catch(() => false);
    const left = created ? ` (database ${name} was created and is left empty${definition ? ", perhaps without its owner" : ""}: drop it before trying again)` : "";
    if (err instanceof InterruptedError) throw new InterruptedError(`interrupted while creating database ${name}${left}`);
    if (created) throw new CairnError(`could not apply all of the definition of ${originalName(definition!)} to database ${name}${left}: ${(err as Error).message}`);
    throw new CairnError(`could not create database ${name}${asItWas(definition)}: ${(err as Error).message}`);
  }
}

function originalName(definition: CreateDatabaseScript): string {
  return JSON.stringify(Buffer.from(definition.original, "latin1").toString("utf8"));
}

function asItWas(definition: CreateDatabaseScript | undefined): string {
  return definition ? ` as ${originalName(definition)} was (owner, encoding, locale)` : "";
}

/** The target server's roles and tablespaces, and who the restore connects as: names as UTF-8 bytes (one char each), as globals-script.ts compares them. */
async function existingGlobals(uri: string, options: PgToolOptions): Promise<ExistingGlobals & { connectedAs: string }> {
  const names = async (sql: string) => (await psqlValues(uri, sql, options)).map((name) => Buffer.from(name, "utf8").toString("latin1"));
  const [connectedAs] = await names("SELECT current_user;");
  return { roles: new Set(await names("SELECT rolname FROM pg_roles;")), tablespaces: new Set(await names("SELECT spcname FROM pg_tablespace;")), connectedAs: connectedAs! };
}

/** globals.sql without the CREATEs of roles and tablespaces the target has, nor a new password for the role it connects as (see globals-script.ts). */
async function* globalsToRestore(repo: Repository, dump: DumpFile, options: PostgresRestoreOptions): AsyncGenerator<Buffer> {
  const existing = await existingGlobals(options.target, options);
  const { script, leftOut, keptPassword } = withoutExistingGlobals(await readWhole(repo, dump.node.content ?? []), existing, existing.connectedAs);
  if (leftOut.length > 0) options.onInfo?.(`left out the CREATE of what the server has already (the ALTER ROLE after each still applies): ${leftOut.join(", ")}`);
  if (keptPassword) options.onInfo?.(`kept the password of ${JSON.stringify(Buffer.from(existing.connectedAs, "latin1").toString("utf8"))}, the role this restore connects as`);
  yield script;
}

/**
 * Restores a dump from a snapshot into a database: plain SQL through psql, custom-format dumps
 * through pg_restore. Everything runs in one transaction that is committed only after the last
 * verified byte has been sent, so the first error (from the server, or a damaged blob in the
 * repository, or cairn being killed) leaves the target database as it was.
 */
export async function restoreToPostgres(repo: Repository, rootTree: Id, options: PostgresRestoreOptions): Promise<PostgresRestoreResult> {
  const target = PostgresUri.parse(options.target);
  const database = target.database;
  if (database === undefined) throw new UsageError(`${target.redacted()}: name the database to restore into (postgres://host/DBNAME)`);
  const dump = await chooseDump(repo, rootTree, options.path);
  checkComplete(repo, dump);
  const definitionFile = options.create ? await storedDefinition(repo, rootTree, dump) : undefined;
  if (definitionFile) checkComplete(repo, definitionFile);

  const where = `restore of ${dump.path} into ${target.redacted()}`;
  let definition: CreateDatabaseScript | undefined;
  if (definitionFile) {
    let bytes: Buffer;
    try {
      bytes = await readWhole(repo, definitionFile.node.content ?? []);
    } catch (err) {
      throw new IntegrityError(`${where}: ${definitionFile.path}: ${(err as Error).message}; nothing was restored (cairn dump the dump file and restore it by hand)`);
    }
    try {
      definition = planCreateDatabase(bytes, database);
    } catch (err) {
      throw new CairnError(`${where}: ${definitionFile.path}: ${(err as Error).message}`);
    }
  }
  if (options.create) {
    try {
      await createDatabase(target, database, definition, options);
    } catch (err) {
      if (err instanceof InterruptedError) throw new InterruptedError(`${where}: ${err.message}`);
      throw new CairnError(`${where}: ${(err as Error).message}`);
    }
    options.onInfo?.(`created database ${JSON.stringify(database)}${asItWas(definition)}`);
  }
  const createdNote = options.create ? ` (database ${JSON.stringify(database)} was created and is left empty)` : "";

  // globals.sql (roles, tablespaces) cannot run inside a transaction: CREATE TABLESPACE refuses to.
  const transactional = dump.node.name !== GLOBALS_FILE;
  const proc =
    dump.format === "plain"
      ? PgProcess.start("psql", ["--no-psqlrc", "--no-password", "--quiet", "--set=ON_ERROR_STOP=1", `--dbname=${options.target}`, `--command=${READ_WRITE}`, ...(transactional ? ["--command=BEGIN"] : []), "--file=-"], { ...options, stdin: true })
      : PgProcess.start("pg_restore", ["--no-password", "--exit-on-error", "--single-transaction", `--dbname=${options.target}`], { ...options, stdin: true, writes: true });
  const outcome = transactional ? ", nothing was committed" : ` (${GLOBALS_FILE} is no transaction: what came before the error took effect)`;
  let bytes = 0;
  let sourceError: unknown;
  const content = transactional ? dumpBytes(repo, dump.node.content ?? []) : globalsToRestore(repo, dump, options);
  async function* feed(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of dump.format === "plain" && transactional ? withoutLargeObjectTransactions(content) : content) {
        if (options.signal?.aborted) throw new InterruptedError();
        bytes += chunk.length;
        yield chunk;
      }
    } catch (err) {
      sourceError = err;
      proc.kill();
      throw err;
    }
    // psql's own --single-transaction would commit at end of input even if cairn died half-way.
    if (dump.format === "plain" && transactional) yield Buffer.from("\nCOMMIT;\n");
  }
  try {
    await pipeline(Readable.from(feed()), proc.stdin);
  } catch {
    // The program stopped reading (its exit status says why) or the repository failed (sourceError).
  }
  if (sourceError) {
    await proc.finish().catch(() => {});
    const message = sourceError instanceof Error ? sourceError.message : String(sourceError);
    if (sourceError instanceof InterruptedError) throw new InterruptedError(`${where} interrupted${outcome}${createdNote}`);
    throw new CairnError(`${where} stopped${outcome}${createdNote}: ${message}`);
  }
  try {
    await proc.finish();
  } catch (err) {
    // Ctrl-C at a terminal reaches psql too, which cancels its statement.
    if (options.signal?.aborted) throw new InterruptedError(`${where} interrupted${outcome}${createdNote}`);
    throw new CairnError(`${where} stopped at the first error${outcome}${createdNote}: ${(err as Error).message}`);
  }
  if (definition && definition.properties.length > 0) {
    // All or nothing: a failed grant leaves no half of the settings behind.
    try {
      await runPsql(options.target, definition.properties, { ...options, singleTransaction: true });
    } catch (err) {
      const notSet = "the contents were restored and committed, but the database's settings, grants and comment were not set";
      if (err instanceof InterruptedError) throw new InterruptedError(`${where} interrupted: ${notSet}`);
      throw new CairnError(`${where}: ${notSet}: ${(err as Error).message}`);
    }
    options.onInfo?.(`set the settings, grants and comment of database ${JSON.stringify(database)} as they were`);
  }
  return { path: dump.path, format: dump.format, target: target.redacted(), bytes, created: options.create ?? false, asItWas: definition !== undefined };
}

import { CairnError, InterruptedError, UsageError } from "../../errors.js";
import type { Id } from "../../store/id.js";
import { listPacks } from "../../store/pack/pack-list.js";
import type { Repository } from "../../store/repository.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { findNodeIfPresent } from "../../store/tree/tree-walker.js";
import { planCreateDatabase } from "./create-database-script.js";
import { CREATE_DATABASE_DIR, createDatabaseFileName, databaseOfDumpFile, dumpFormatOf, GLOBALS_FILE, POSTGRES_DIR } from "./dump-layout.js";
import { checkComplete, readWhole, restoreToPostgres, type PostgresRestoreResult } from "./pg-restore.js";
import { PostgresUri } from "./postgres-uri.js";
import { psqlValues, type PgToolOptions } from "./pg-tools.js";

export interface ServerRestoreOptions extends PgToolOptions {
  /** libpq URI of the server to restore into, naming no database. */
  target: string;
  /** The server's directory inside the snapshot (`/postgres/<server>`); by default the only one with a globals file. */
  path?: string;
  signal?: AbortSignal;
  onInfo?: (message: string) => void;
  /** Told of each database (and of globals.sql) once restored. */
  onRestored?: (result: PostgresRestoreResult) => void;
}

export interface ServerRestoreResult {
  /** The server's directory inside the snapshot. */
  path: string;
  globals: PostgresRestoreResult;
  databases: PostgresRestoreResult[];
}

/** Every server has these: their contents are restored into them, as pg_dumpall's script does. */
const ALWAYS_THERE = new Set(["postgres", "template1"]);

/** The server directory of an `--all-databases` backup: the one named, or the only one with a globals file. */
async function chooseServer(repo: Repository, rootTree: Id, path: string | undefined): Promise<{ path: string; files: TreeNode[] }> {
  const withGlobals = async (dir: string): Promise<TreeNode[] | undefined> => {
    const node = await findNodeIfPresent(repo, rootTree, dir);
    if (node?.type !== "dir" || !node.subtree) return undefined;
    const files = await repo.loadTree(node.subtree);
    return files.some((f) => f.name === GLOBALS_FILE && f.type === "file") ? files : undefined;
  };
  if (path !== undefined) {
    const files = await withGlobals(path);
    if (!files) throw new UsageError(`${path} is not the directory of an --all-databases backup (/${POSTGRES_DIR}/SERVER with ${GLOBALS_FILE})`);
    return { path, files };
  }
  const servers: { path: string; files: TreeNode[] }[] = [];
  const root = await findNodeIfPresent(repo, rootTree, `/${POSTGRES_DIR}`);
  for (const server of root?.type === "dir" && root.subtree ? await repo.loadTree(root.subtree) : []) {
    const dir = `/${POSTGRES_DIR}/${server.name}`;
    const files = server.type === "dir" ? await withGlobals(dir) : undefined;
    if (files) servers.push({ path: dir, files });
  }
  if (servers.length === 1) return servers[0]!;
  if (servers.length === 0) throw new UsageError(`the snapshot holds no --all-databases backup (no /${POSTGRES_DIR}/SERVER/${GLOBALS_FILE})`);
  throw new UsageError(`the snapshot holds the servers ${servers.map((s) => s.path).join(", ")}: choose one with SNAPSHOT:PATH`);
}

/**
 * Restores a whole server from an `--all-databases` snapshot, as pg_dumpall's script would: the
 * roles and tablespaces (globals.sql, leaving out those the server has), then each database,
 * created as it was and restored in a transaction of its own; `postgres` and `template1`, which
 * every server has, get their contents only. Databases the server already has (other than
 * those two) are refused before anything is done, and so is a missing blob.
 */
export async function restoreServerToPostgres(repo: Repository, rootTree: Id, options: ServerRestoreOptions): Promise<ServerRestoreResult> {
  const server = PostgresUri.parse(options.target);
  if (server.database !== undefined) throw new UsageError(`${server.redacted()}: --all-databases restores a whole server: name no database (postgres://host/)`);
  const maintenance = server.withDatabase("postgres");
  const { path, files } = await chooseServer(repo, rootTree, options.path);
  const dumps = files.filter((f) => f.type === "file" && f.name !== GLOBALS_FILE && dumpFormatOf(f.name) !== undefined);
  const definitionDir = files.find((f) => f.name === CREATE_DATABASE_DIR && f.type === "dir");
  const definitions = definitionDir?.subtree ? await repo.loadTree(definitionDir.subtree) : [];
  // Everything that can refuse is asked before the server is touched: every blob indexed and in
  // a pack that exists, every definition readable and writable under its own name.
  const { packs } = await listPacks(repo.backend);
  const stored = [...files.filter((f) => f.type === "file").map((node) => ({ path: `${path}/${node.name}`, node })), ...definitions.map((node) => ({ path: `${path}/${CREATE_DATABASE_DIR}/${node.name}`, node }))];
  for (const file of stored) checkComplete(repo, file, packs);
  for (const dump of dumps) {
    const definition = definitions.find((d) => d.name === createDatabaseFileName(dump.name));
    if (!definition) continue;
    try {
      planCreateDatabase(await readWhole(repo, definition.content ?? []), databaseOfDumpFile(dump.name));
    } catch (err) {
      throw new CairnError(`${path}/${CREATE_DATABASE_DIR}/${definition.name}: ${(err as Error).message}; nothing was restored`);
    }
  }

  let existing: Set<string>;
  try {
    existing = new Set(await psqlValues(maintenance, "SELECT datname FROM pg_database;", options));
  } catch (err) {
    throw new CairnError(`restore of ${path} into ${server.redacted()}: ${(err as Error).message}`);
  }
  const clashes = dumps.map((d) => databaseOfDumpFile(d.name)).filter((db) => existing.has(db) && !ALWAYS_THERE.has(db));
  if (clashes.length > 0) {
    throw new UsageError(`the server already has ${clashes.map((db) => JSON.stringify(db)).join(", ")}: drop ${clashes.length === 1 ? "it" : "them"}, or restore the other databases one by one; nothing was restored`);
  }

  const restored: PostgresRestoreResult[] = [];
  const restore = async (file: string, uri: string, create: boolean): Promise<PostgresRestoreResult> => {
    try {
      const result = await restoreToPostgres(repo, rootTree, { ...options, target: uri, path: `${path}/${file}`, create });
      restored.push(result);
      options.onRestored?.(result);
      return result;
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      const done = restored.length > 0 ? `restored before it: ${restored.map((r) => r.path.split("/").at(-1)).join(", ")}` : "nothing was restored before it";
      const left = dumps.slice(dumps.findIndex((d) => d.name === file) + 1);
      const message = `${err.message} (${done}${left.length > 0 ? `; not restored: ${left.map((d) => d.name).join(", ")}` : ""})`;
      throw err instanceof InterruptedError ? new InterruptedError(message) : new CairnError(message, err.exitCode);
    }
  };
  const globals = await restore(GLOBALS_FILE, maintenance, false);
  const databases: PostgresRestoreResult[] = [];
  for (const dump of dumps) {
    const database = databaseOfDumpFile(dump.name);
    databases.push(await restore(dump.name, server.withDatabase(database), !existing.has(database)));
  }
  return { path, globals, databases };
}

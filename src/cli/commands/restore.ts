import type { Command } from "commander";
import { blobsTheIndexDbMisses } from "../../check/index-db-agreement.js";
import { restoreSnapshot, type OverwritePolicy, type RestoreOptions } from "../../restore/restorer.js";
import { listPacks } from "../../store/pack/pack-list.js";
import { abortOnSignals } from "../abort-on-signals.js";
import { ExitCode, UsageError } from "../../errors.js";
import { shortId } from "../../store/id.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { commandContext } from "../command-context.js";
import { localTime } from "../../platform/local-time.js";
import { collect, formatBytes } from "../parse-options.js";
import { restorePatternFilter } from "../../restore/restore-patterns.js";
import { withRepository } from "../repository-session.js";
import { splitSnapshotPath } from "../snapshot-argument.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";
import { restoreToPostgres, type PostgresRestoreResult } from "../../sources/postgres/pg-restore.js";
import { restoreServerToPostgres } from "../../sources/postgres/server-restore.js";
import { restoreIntoDocker } from "../restore-docker.js";

interface RestoreFlags {
  host: string[];
  tag: string[];
  path: string[];
  target?: string;
  overwrite: string;
  include: string[];
  exclude: string[];
  delete: boolean;
  verify: boolean;
  dryRun: boolean;
  toPostgres?: string;
  create: boolean;
  allDatabases: boolean;
  pgBin?: string;
  toDocker: boolean;
  only?: string[];
  force: boolean;
}

const OVERWRITE: readonly OverwritePolicy[] = ["always", "if-changed", "if-newer", "never"];

/**
 * Options of a restore into a directory, refused with --to-docker and --to-postgres: ignored,
 * they would mislead (a --dry-run that restores for real).
 */
function directoryOnlyOptions(flags: RestoreFlags): string[] {
  const given: [boolean, string][] = [
    [flags.dryRun, "--dry-run"],
    [flags.include.length > 0, "--include"],
    [flags.exclude.length > 0, "--exclude"],
    [flags.delete, "--delete"],
    [flags.verify, "--verify"],
    [flags.overwrite !== "always", "--overwrite"],
  ];
  return given.filter(([isGiven]) => isGiven).map(([, name]) => name);
}

export function registerRestore(program: Command): void {
  addSnapshotFilterOptions(program.command("restore").description("restore a snapshot (or SNAPSHOT:PATH, a part of one) into a directory"))
    .argument("<snapshot>", "snapshot id, unique prefix or latest, optionally :/path/inside")
    .option("-t, --target <dir>", "directory to restore into")
    .option("--overwrite <when>", `replace existing files: ${OVERWRITE.join(", ")}`, "always")
    .option("--include <pattern>", "restore only paths matching this .gitignore-style pattern (repeatable)", collect, [])
    .option("--exclude <pattern>", "do not restore paths matching this .gitignore-style pattern (repeatable)", collect, [])
    .option("--delete", "delete files in the target that are not in the snapshot (only inside restored directories)", false)
    .option("--verify", "read restored files back and check every chunk against the snapshot", false)
    .option("--dry-run", "show what would be restored and deleted; write nothing", false)
    .option("--to-postgres <uri>", "restore the snapshot's PostgreSQL dump into this database (postgres://user@host:port/dbname)")
    .option("--create", "with --to-postgres: create the database first, as it was (owner, encoding, locale, settings, grants)", false)
    .option("--all-databases", "with --to-postgres postgres://host/: restore a whole server from an --all-databases backup (roles, then every database, created as it was)", false)
    .option("--pg-bin <dir>", "directory of psql and pg_restore (default: $CAIRN_PG_BIN, else the PATH)")
    .option("--to-docker", "put the snapshot's Docker images, volumes and containers back into the engine (DOCKER_HOST or the default socket)", false)
    .option("--only <kind-and-name...>", "with --to-docker: only this image, container or volume, e.g. --only container web (repeatable)")
    .option("--force", "with --to-docker: replace containers of the same name and non-empty volumes, move image tags", false)
    .action(async (argument: string, flags: RestoreFlags, command: Command) => {
      if (flags.toPostgres && flags.toDocker) throw new UsageError("give one of --target, --to-docker and --to-postgres");
      const into = flags.toDocker ? "--to-docker" : flags.toPostgres ? "--to-postgres" : undefined;
      const misplaced = into ? directoryOnlyOptions(flags) : [];
      if (misplaced.length > 0) throw new UsageError(`${misplaced.join(", ")} ${misplaced.length === 1 ? "goes" : "go"} with --target, not with ${into}`);
      if (flags.toPostgres) return restoreIntoPostgres(argument, flags, command);
      if (flags.toDocker) return restoreIntoDocker(argument, flags, command);
      if (flags.only || flags.force) throw new UsageError("--only and --force go with --to-docker");
      if (flags.create || flags.allDatabases) throw new UsageError(`${flags.create ? "--create" : "--all-databases"} goes with --to-postgres`);
      const { globals, out } = commandContext(command);
      if (!flags.target) throw new UsageError("restore needs --target DIR");
      if (!OVERWRITE.includes(flags.overwrite as OverwritePolicy)) throw new UsageError(`--overwrite must be one of ${OVERWRITE.join(", ")}`);
      const { selector, path } = splitSnapshotPath(argument);
      await withRepository(globals, out, "read", async (repo) => {
        const snapshot = selectSnapshot(await repo.listSnapshots(), selector, snapshotFilter(flags));
        const options: RestoreOptions = {
          target: flags.target!,
          overwrite: flags.overwrite as OverwritePolicy,
          onProblem: (p) => out.warn(`${p.path}: ${p.message}`),
          ...restorePatternFilter(flags.include, flags.exclude),
          delete: flags.delete,
          verify: flags.verify,
          dryRun: flags.dryRun,
          onItem: (action, item) => {
            out.line(`${flags.dryRun ? "would " : ""}${action === "delete" ? "delete" : action === "skip" ? "skip (unchanged or kept)" : "restore"} ${item}`);
            out.record({ message_type: "verbose_status", action: action === "skip" ? "unchanged" : action === "delete" ? "deleted" : "restored", item, dry_run: flags.dryRun });
          },
        };
        if (path) options.subpath = path;
        out.info(`restoring snapshot ${shortId(snapshot.id)} of [${snapshot.paths.join(" ")}] at ${localTime(snapshot.time)} to ${flags.target}`);
        // Stopped between packs (and between directories and items of metadata), with what was
        // queued written and the repository's lock released: exit code 130.
        const result = await abortOnSignals((signal) => restoreSnapshot(repo, snapshot.tree, { ...options, signal }));
        for (const d of result.damaged) out.error(`damaged: ${d.path}: ${d.message}`);
        if (result.damaged.length > 0) {
          // What is missing is the index database's word: a damaged cache says so of intact data.
          const misses = await blobsTheIndexDbMisses(repo.backend, repo.index, (await listPacks(repo.backend)).packs);
          if (misses > 0) out.error(`the index database misses ${misses} blobs the index files list (it is a cache, and damaged): run cairn repair index, then restore again`);
        }
        for (const m of result.mismatches) out.error(`verify failed: ${m.path}: ${m.message}`);
        const verb = flags.dryRun ? "would restore" : "restored";
        out.line(`${verb} ${result.files} files, ${result.dirs} directories, ${result.others} other items, ${formatBytes(result.bytes)}; ${result.skipped} skipped${flags.delete ? `, ${result.deleted} ${flags.dryRun ? "to delete" : "deleted"}` : ""}`);
        if (flags.verify) out.line(`verified ${result.verified} files${result.mismatches.length > 0 ? `, ${result.mismatches.length} DIFFER from the snapshot` : ", all equal to the snapshot"}`);
        out.record({ message_type: "summary", snapshot_id: snapshot.id, dry_run: flags.dryRun, files_restored: result.files, dirs_restored: result.dirs, bytes_restored: result.bytes, files_skipped: result.skipped, files_deleted: result.deleted, files_verified: result.verified, verify_mismatches: result.mismatches, damaged: result.damaged, problems: result.problems });
        if (result.damaged.length > 0 || result.problems.length > 0 || result.mismatches.length > 0) process.exitCode = ExitCode.fatal;
      });
    });
}

/** `--to-postgres`: the dump goes into a database through psql or pg_restore, not into files. */
async function restoreIntoPostgres(argument: string, flags: RestoreFlags, command: Command): Promise<void> {
  const { globals, out } = commandContext(command);
  if (flags.target) throw new UsageError("give either --target or --to-postgres, not both");
  const { selector, path } = splitSnapshotPath(argument);
  await withRepository(globals, out, "read", async (repo) => {
    const snapshot = selectSnapshot(await repo.listSnapshots(), selector, snapshotFilter(flags));
    const report = (result: PostgresRestoreResult, messageType: string) => {
      out.line(`restored ${result.path} (${formatBytes(result.bytes)}) from snapshot ${shortId(snapshot.id)} into ${result.target}`);
      out.record({ message_type: messageType, snapshot_id: snapshot.id, dump: result.path, format: result.format, target: result.target, bytes_restored: result.bytes, database_created: result.created, database_definition_restored: result.asItWas });
    };
    if (flags.allDatabases) {
      const result = await abortOnSignals((signal) =>
        restoreServerToPostgres(repo, snapshot.tree, { target: flags.toPostgres!, path, binDir: flags.pgBin, onInfo: (m) => out.info(m), onRestored: (r) => report(r, "restored"), signal }),
      );
      out.line(`restored ${result.path}: ${result.databases.length} databases and the roles`);
      out.record({ message_type: "summary", snapshot_id: snapshot.id, server: result.path, databases_restored: result.databases.length });
      return;
    }
    const result = await abortOnSignals((signal) => restoreToPostgres(repo, snapshot.tree, { target: flags.toPostgres!, create: flags.create, path, binDir: flags.pgBin, onInfo: (m) => out.info(m), signal }));
    report(result, "summary");
  });
}

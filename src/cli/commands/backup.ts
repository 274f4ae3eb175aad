import { readFile } from "node:fs/promises";
import * as os from "node:os";
import type { Command } from "commander";
import { findParentSnapshot, runBackup, type BackupOptions, type BackupResult } from "../../backup/archiver.js";
import { emptyCounters } from "../../backup/backup-context.js";
import { createExcludeFilter, parseExcludeFile } from "../../backup/excludes.js";
import { PathSource } from "../../backup/path-source.js";
import { scanTotals, type ScanTotals } from "../../backup/scanner.js";
import { ExitCode, UsageError } from "../../errors.js";
import { shortId } from "../../store/id.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { backupSources } from "../backup-sources.js";
import { commandContext } from "../command-context.js";
import { snakeCaseKeys } from "../output.js";
import { collect, collectTags, formatBytes, parseSize } from "../parse-options.js";
import { ProgressLine } from "../progress.js";
import { backupStatus, formatBackupStatus, statusRecord } from "../progress-backup.js";
import { withRepository } from "../repository-session.js";
import { abortOnSignals } from "../abort-on-signals.js";

interface BackupFlags {
  tag: string[];
  host?: string;
  parent?: string;
  force: boolean;
  ignoreInode: boolean;
  ignoreCtime: boolean;
  exclude: string[];
  excludeFile: string[];
  excludeIfPresent: string[];
  excludeLargerThan?: string;
  oneFileSystem: boolean;
  dryRun: boolean;
  stdin: boolean;
  stdinFilename: string;
  stdinFromCommand: boolean;
  pgFormat: string;
  allDatabases: boolean;
  pgBin?: string;
  dockerLabel: string[];
  pause: boolean;
}

const JSON_STATUS_MS = 1000;

export function registerBackup(program: Command): void {
  program
    .command("backup")
    .description("back up files and directories (or standard input, or a command's output) into a new snapshot")
    .argument("[paths...]", "files and directories to back up (with --stdin-from-command: the command and its arguments)")
    .option("--tag <tags>", "add these comma-separated tags to the snapshot (repeatable)", collectTags, [])
    .option("--host <name>", "hostname to record (default: this machine's)")
    .option("--parent <snapshot>", "compare against this snapshot instead of the latest of the same host and paths")
    .option("--force", "re-read every file instead of trusting the parent snapshot", false)
    .option("--ignore-inode", "do not treat a changed inode as a changed file", false)
    .option("--ignore-ctime", "do not treat a changed ctime as a changed file", false)
    .option("-e, --exclude <pattern>", "leave out paths matching a gitignore-style pattern (repeatable)", collect, [])
    .option("--exclude-file <file>", "read exclude patterns from a file, one per line (repeatable)", collect, [])
    .option("--exclude-if-present <name>", "leave out directories that contain a file of this name (repeatable)", collect, [])
    .option("--exclude-larger-than <size>", "leave out files larger than this (e.g. 500M, 2G)")
    .option("-x, --one-file-system", "do not cross into other file systems (mount points are kept, empty)", false)
    .option("-n, --dry-run", "read everything and report what would be added, but write nothing", false)
    .option("--stdin", "back up standard input as one file (see --stdin-filename)", false)
    .option("--stdin-filename <name>", "file name for --stdin / --stdin-from-command in the snapshot", "stdin")
    .option("--stdin-from-command", "back up the standard output of the command given after --; fails if it exits non-zero", false)
    .option("--pg-format <format>", "dump format for postgres:// sources: plain (SQL, deduplicates best) or custom", "plain")
    .option("--all-databases", "for postgres://host/: dump the globals and every database of the server", false)
    .option("--pg-bin <dir>", "directory of pg_dump, pg_dumpall and psql (default: $CAIRN_PG_BIN, else the PATH)")
    .option("--docker-label <key=value>", "docker:all takes only the containers and volumes with this label (repeatable; alone, implies docker:all)", collect, [])
    .option("--no-pause", "do not pause running containers while their files and volumes are read (docker: sources)")
    .action(async (args: string[], flags: BackupFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      const sources = await backupSources(args, flags);
      const patterns = [...flags.exclude];
      for (const file of flags.excludeFile) patterns.push(...parseExcludeFile(await readExcludeFile(file)));
      const roots = sources.filter((s) => s instanceof PathSource).map((s) => s.path);
      const exclude = createExcludeFilter({ patterns, roots, ...(flags.excludeLargerThan !== undefined ? { largerThan: parseSize(flags.excludeLargerThan, "--exclude-larger-than") } : {}) });

      await withRepository(globals, out, "shared", async (repo) => {
        // An empty --host means this machine's name, as in restic.
        const hostname = flags.host || os.hostname();
        const all = await repo.listSnapshots();
        const parent = flags.parent
          ? selectSnapshot(all, flags.parent)
          : flags.force
            ? undefined
            : findParentSnapshot(all, hostname, sources.map((s) => s.path));
        if (parent) out.info(`using parent snapshot ${shortId(parent.id)}`);

        const controller = new AbortController();
        const counters = emptyCounters();
        let currentFile: string | undefined;
        const started = Date.now();
        const showStatus = !globals.quiet && (globals.json || process.stderr.isTTY === true);
        const totals: ScanTotals = { files: 0, dirs: 0, bytes: 0, done: false };
        const scanOptions = { excludeIfPresent: flags.excludeIfPresent, oneFileSystem: flags.oneFileSystem, signal: controller.signal, ...(exclude ? { exclude } : {}) };
        const scan = showStatus ? scanTotals(roots, scanOptions, totals) : undefined;
        const status = () => backupStatus(started, counters, scan ? totals : undefined, currentFile);
        const progress = showStatus && !globals.json ? new ProgressLine(process.stderr, () => formatBackupStatus(status())) : undefined;
        // A record that cannot be written while files are read (stdout closed: `… --json | head`)
        // must not abort the backup: it is raised once the snapshot is saved.
        let recordFailure: { error: unknown } | undefined;
        const record = (data: object) => {
          try {
            if (!recordFailure) out.record(data);
          } catch (error) {
            recordFailure = { error };
          }
        };
        const jsonTimer = showStatus && globals.json ? setInterval(() => record(statusRecord(status())), JSON_STATUS_MS) : undefined;

        const options: BackupOptions = {
          sources,
          hostname,
          tags: flags.tag,
          changeDetection: { force: flags.force, ignoreInode: flags.ignoreInode, ignoreCtime: flags.ignoreCtime },
          excludeIfPresent: flags.excludeIfPresent,
          oneFileSystem: flags.oneFileSystem,
          dryRun: flags.dryRun,
          counters,
          onFile: (path) => (currentFile = path),
          onWarning: (w) => {
            progress?.clear();
            out.warn(`${w.path}: ${w.message}`);
            record({ message_type: "error", item: w.path, error: w.message });
          },
          signal: controller.signal,
        };
        if (exclude) options.exclude = exclude;
        if (parent) options.parent = parent;

        progress?.start();
        let result: BackupResult;
        try {
          result = await abortOnSignals(() => runBackup(repo, options), controller);
        } finally {
          progress?.stop();
          if (jsonTimer) clearInterval(jsonTimer);
          controller.abort();
          await scan;
        }
        if (recordFailure) throw recordFailure.error;
        report(out, result, flags.dryRun);
      });
    });
}

async function readExcludeFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`--exclude-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function report(out: ReturnType<typeof commandContext>["out"], result: BackupResult, dryRun: boolean): void {
  const s = result.snapshot.summary!;
  const seconds = (Date.parse(s.backupEnd) - Date.parse(s.backupStart)) / 1000;
  out.line(`Files:       ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified`);
  out.line(`Dirs:        ${s.dirsNew} new, ${s.dirsChanged} changed, ${s.dirsUnmodified} unmodified`);
  if (dryRun) out.line(`Would add to the repository: ${formatBytes(s.dataAdded)} in ${s.dataBlobs + s.treeBlobs} new blobs (before compression)`);
  else out.line(`Added to the repository: ${formatBytes(s.dataAdded)} (${formatBytes(s.dataAddedPacked)} stored)`);
  out.line(`processed ${s.totalFilesProcessed} files, ${formatBytes(s.totalBytesProcessed)} in ${seconds.toFixed(2)}s`);
  if (result.snapshotId) out.line(`snapshot ${shortId(result.snapshotId)} saved`);
  else out.line("dry run: nothing was written");
  out.record({ message_type: "summary", ...(result.snapshotId ? { snapshot_id: result.snapshotId } : { dry_run: true }), ...snakeCaseKeys(s), warnings: result.warnings.length });
  if (result.warnings.length > 0) {
    out.warn(result.snapshotId ? `snapshot ${shortId(result.snapshotId)} is incomplete: ${result.warnings.length} item(s) could not be read` : `${result.warnings.length} item(s) could not be read`);
    process.exitCode = ExitCode.incomplete;
  }
}

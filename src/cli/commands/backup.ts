import { readFile } from "node:fs/promises";
import * as os from "node:os";
import type { Command } from "commander";
import { findParentSnapshot, runBackup, type BackupOptions, type BackupResult } from "../../backup/archiver.js";
import { emptyCounters } from "../../backup/backup-context.js";
import { createExcludeFilter, parseExcludeFile } from "../../backup/excludes.js";
import { CACHE_DIRECTORY_TAG, parseExclusionMarker } from "../../backup/exclusion-marker.js";
import { PathSource } from "../../backup/path-source.js";
import { scanTotals, type ScanTotals } from "../../backup/scanner.js";
import { ExitCode, UsageError } from "../../errors.js";
import { shortId } from "../../store/id.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { backupSources } from "../backup-sources.js";
import { commandContext } from "../command-context.js";
import { filesFromLists } from "../files-from.js";
import { parseTime } from "../parse-time.js";
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
  excludeCaches: boolean;
  excludeLargerThan?: string;
  filesFrom: string[];
  filesFromVerbatim: string[];
  filesFromRaw: string[];
  time?: string;
  skipIfUnchanged: boolean;
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
    .option("--exclude-if-present <name[:header]>", "leave out directories that contain a file of this name (that begins with header, if given) (repeatable)", collect, [])
    .option("--exclude-caches", "leave out directories holding a CACHEDIR.TAG file with the standard signature", false)
    .option("--exclude-larger-than <size>", "leave out files larger than this (e.g. 500M, 2G)")
    .option("-x, --one-file-system", "do not cross into other file systems (mount points are kept, empty)", false)
    .option("--files-from <file>", "back up the paths matching the glob patterns in this file, one per line; - reads standard input (repeatable)", collect, [])
    .option("--files-from-verbatim <file>", "back up the paths named in this file, one per line, taken as they are (repeatable)", collect, [])
    .option("--files-from-raw <file>", "back up the paths named in this file, each ended by a NUL byte, as find -print0 writes them (repeatable)", collect, [])
    .option("--time <time>", "time to record in the snapshot instead of now (e.g. \"2026-11-17 09:00:00\", local time)")
    .option("--skip-if-unchanged", "write no snapshot if nothing changed since the parent snapshot (metadata included)", false)
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
      if ((flags.stdin || flags.stdinFromCommand) && filesFromGiven(flags)) throw new UsageError("--files-from options cannot be used with --stdin or --stdin-from-command");
      const time = flags.time === undefined ? undefined : parseTime(flags.time, "--time");
      const listed = await filesFromLists(flags, (message) => out.warn(message));
      if (listed.length === 0 && args.length === 0 && filesFromGiven(flags)) throw new UsageError("nothing to back up: the --files-from lists name nothing that exists");
      const sources = await backupSources(args, flags, listed);
      const patterns = [...flags.exclude];
      for (const file of flags.excludeFile) patterns.push(...parseExcludeFile(await readExcludeFile(file)));
      const roots = sources.filter((s) => s instanceof PathSource).map((s) => s.path);
      const markers = flags.excludeCaches ? [...flags.excludeIfPresent, CACHE_DIRECTORY_TAG] : flags.excludeIfPresent;
      // A bad marker is refused before the repository is opened.
      markers.forEach(parseExclusionMarker);
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
        const scanOptions = { excludeIfPresent: markers, oneFileSystem: flags.oneFileSystem, signal: controller.signal, ...(exclude ? { exclude } : {}) };
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
          excludeIfPresent: markers,
          oneFileSystem: flags.oneFileSystem,
          dryRun: flags.dryRun,
          skipIfUnchanged: flags.skipIfUnchanged,
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
        if (time) options.time = time;

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

function filesFromGiven(flags: BackupFlags): boolean {
  return flags.filesFrom.length + flags.filesFromVerbatim.length + flags.filesFromRaw.length > 0;
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
  else if (result.unchanged) out.line("nothing changed since the parent snapshot: no snapshot written");
  else out.line("dry run: nothing was written");
  const outcome = result.snapshotId ? { snapshot_id: result.snapshotId } : result.unchanged ? { skipped: true } : { dry_run: true };
  out.record({ message_type: "summary", ...outcome, ...snakeCaseKeys(s), warnings: result.warnings.length });
  if (result.warnings.length > 0) {
    out.warn(result.snapshotId ? `snapshot ${shortId(result.snapshotId)} is incomplete: ${result.warnings.length} item(s) could not be read` : `${result.warnings.length} item(s) could not be read`);
    process.exitCode = ExitCode.incomplete;
  }
}

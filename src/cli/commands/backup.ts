import * as os from "node:os";
import type { Command } from "commander";
import { findParentSnapshot, runBackup, type BackupOptions } from "../../backup/archiver.js";
import type { BackupSource } from "../../backup/backup-source.js";
import { PathSource } from "../../backup/path-source.js";
import { ExitCode, InterruptedError, UsageError } from "../../errors.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { commandContext } from "../command-context.js";
import { snakeCaseKeys } from "../output.js";
import { collect, formatBytes } from "../parse-options.js";
import { withRepository } from "../repository-session.js";
import { shortId } from "../../store/id.js";

interface BackupFlags {
  tag: string[];
  host?: string;
  parent?: string;
  force: boolean;
  ignoreInode: boolean;
  ignoreCtime: boolean;
}

export function registerBackup(program: Command): void {
  program
    .command("backup")
    .description("back up files and directories into a new snapshot")
    .argument("[paths...]", "files and directories to back up")
    .option("--tag <tag>", "add a tag to the snapshot (repeatable)", collect, [])
    .option("--host <name>", "hostname to record (default: this machine's)")
    .option("--parent <snapshot>", "compare against this snapshot instead of the latest of the same host and paths")
    .option("--force", "re-read every file instead of trusting the parent snapshot", false)
    .option("--ignore-inode", "do not treat a changed inode as a changed file", false)
    .option("--ignore-ctime", "do not treat a changed ctime as a changed file", false)
    .action(async (paths: string[], flags: BackupFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      const sources: BackupSource[] = paths.map((p) => new PathSource(p));
      if (sources.length === 0) throw new UsageError("nothing to back up: give at least one path");
      for (const source of sources) if (source instanceof PathSource) await source.check();

      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        await withRepository(globals, out, "shared", async (repo) => {
          const hostname = flags.host ?? os.hostname();
          const all = await repo.listSnapshots();
          const parent = flags.parent
            ? selectSnapshot(all, flags.parent)
            : flags.force
              ? undefined
              : findParentSnapshot(all, hostname, sources.map((s) => s.path));
          const options: BackupOptions = {
            sources,
            hostname,
            tags: flags.tag,
            changeDetection: { force: flags.force, ignoreInode: flags.ignoreInode, ignoreCtime: flags.ignoreCtime },
            onWarning: (w) => {
              out.warn(`${w.path}: ${w.message}`);
              out.record({ message_type: "error", item: w.path, error: w.message });
            },
            signal: controller.signal,
          };
          if (parent) options.parent = parent;
          if (parent) out.info(`using parent snapshot ${shortId(parent.id)}`);
          let result;
          try {
            result = await runBackup(repo, options);
          } catch (err) {
            // Keep what was written: indexed packs are reused by the next run.
            if (err instanceof InterruptedError) await repo.flush();
            throw err;
          }
          const s = result.snapshot.summary!;
          out.line(`Files:       ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified`);
          out.line(`Dirs:        ${s.dirsNew} new, ${s.dirsChanged} changed, ${s.dirsUnmodified} unmodified`);
          out.line(`Added to the repository: ${formatBytes(s.dataAdded)} (${formatBytes(s.dataAddedPacked)} stored)`);
          out.line(`processed ${s.totalFilesProcessed} files, ${formatBytes(s.totalBytesProcessed)} in ${((Date.parse(s.backupEnd) - Date.parse(s.backupStart)) / 1000).toFixed(2)}s`);
          out.line(`snapshot ${shortId(result.snapshotId)} saved`);
          out.record({ message_type: "summary", snapshot_id: result.snapshotId, ...snakeCaseKeys(s), warnings: result.warnings.length });
          if (result.warnings.length > 0) {
            out.warn(`snapshot ${shortId(result.snapshotId)} is incomplete: ${result.warnings.length} item(s) could not be read`);
            process.exitCode = ExitCode.incomplete;
          }
        });
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}

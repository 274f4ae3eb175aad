import { open, rm } from "node:fs/promises";
import { Writable } from "node:stream";
import type { Command } from "commander";
import { dump } from "../../restore/dump.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { findNode } from "../../store/tree/tree-walker.js";
import { CairnError, ioError, UsageError } from "../../errors.js";
import { abortOnSignals } from "../abort-on-signals.js";
import { commandContext } from "../command-context.js";
import { withRepository } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface DumpFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  target?: string;
}

function isBrokenPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "EPIPE";
}

async function createTarget(file: string) {
  try {
    return await open(file, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new CairnError(`${file} already exists; dump never overwrites a file`);
    throw ioError("cannot write", file, err);
  }
}

/**
 * process.stdout behind a stream of its own. A failed or interrupted dump destroys the stream
 * it writes to; destroying process.stdout with that error would raise it again as an "error"
 * event outside the command (a crash, the lock left behind) instead of the command's report.
 */
function stdoutSink(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      process.stdout.write(chunk, done);
    },
  });
}

export function registerDump(program: Command): void {
  addSnapshotFilterOptions(program.command("dump").description("write a file from a snapshot to stdout, or a directory as a tar archive"))
    .argument("<snapshot>", "snapshot id, unique prefix, or latest")
    .argument("<path>", "absolute path inside the snapshot (/ for all of it)")
    .option("-t, --target <file>", "write to this file instead of stdout")
    .action(async (selector: string, path: string, flags: DumpFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      if (!flags.target && process.stdout.isTTY) throw new UsageError("stdout is a terminal: redirect it (cairn dump … > file) or use --target FILE");
      await withRepository(globals, out, "read", async (repo) => {
        const snapshot = selectSnapshot(await repo.listSnapshots(), selector, snapshotFilter(flags));
        // The file is opened only once the path is known to exist, and removed if the dump fails.
        await findNode(repo, snapshot.tree, path);
        const sink: Writable = flags.target ? (await createTarget(flags.target)).createWriteStream() : stdoutSink();
        try {
          await abortOnSignals((signal) => dump(repo, snapshot.tree, path, sink, { onSkip: (p, reason) => out.warn(`${p}: ${reason}, skipped`), signal }));
        } catch (err) {
          // `cairn dump … | head` closing the pipe early is the reader's choice, not a failure.
          if (flags.target) await rm(flags.target, { force: true });
          if (!isBrokenPipe(err)) throw err;
        }
      });
    });
}

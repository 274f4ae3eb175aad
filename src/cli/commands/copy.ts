import * as path from "node:path";
import type { Command } from "commander";
import { copySnapshots } from "../../copy/snapshot-copier.js";
import { UsageError } from "../../errors.js";
import { localTime } from "../../platform/local-time.js";
import { shortId } from "../../store/id.js";
import { selectSnapshots } from "../../store/snapshot/snapshot-filter.js";
import { abortOnSignals } from "../abort-on-signals.js";
import { commandContext } from "../command-context.js";
import { formatBytes } from "../parse-options.js";
import { repositoryLocation, withRepository } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface CopyFlags {
  fromRepo?: string;
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
}

export function registerCopy(program: Command): void {
  addSnapshotFilterOptions(
    program
      .command("copy")
      .description("copy snapshots, with the data they need, from another repository into this one (default: all that pass the filters)")
      .argument("[snapshots...]", "snapshot ids, unique prefixes or latest, in the source repository")
      .option("--from-repo <path>", "the repository to copy from (default: $CAIRN_FROM_REPOSITORY)"),
  ).action(async (selectors: string[], flags: CopyFlags, command: Command) => {
    const { globals, out } = commandContext(command);
    const from = flags.fromRepo ?? process.env.CAIRN_FROM_REPOSITORY;
    if (!from) throw new UsageError("copy needs the repository to copy from: --from-repo PATH (or CAIRN_FROM_REPOSITORY)");
    if (path.resolve(from) === repositoryLocation(globals).path) throw new UsageError("--from-repo names the repository being copied into");
    await withRepository(
      globals,
      out,
      "read",
      (source) =>
        withRepository(globals, out, "shared", async (destination) => {
          if (source.config.id === destination.config.id) throw new UsageError("--from-repo names the repository being copied into");
          const chunkers = [source.config.chunker, destination.config.chunker].map((c) => JSON.stringify(c));
          if (chunkers[0] !== chunkers[1]) out.warn("the repositories split files with different chunk sizes: copied data will not deduplicate against what is backed up into this one");
          const snapshots = selectSnapshots(await source.listSnapshots(), selectors, snapshotFilter(flags));
          const result = await abortOnSignals((signal) =>
            copySnapshots(source, destination, snapshots, {
              signal,
              onSnapshot: (event) => {
                const snapshot = snapshots.find((s) => s.id === event.from)!;
                const what = `snapshot ${shortId(event.from)} of [${snapshot.paths.join(" ")}] at ${localTime(snapshot.time)}`;
                out.line(event.alreadyThere ? `${what}: already here as ${shortId(event.to)}` : `${what}: copied as ${shortId(event.to)}`);
                out.record({ message_type: "snapshot", source_snapshot_id: event.from, snapshot_id: event.to, already_there: event.alreadyThere });
              },
            }),
          );
          const copied = result.snapshots.filter((s) => !s.alreadyThere).length;
          out.line(`${copied} snapshot${copied === 1 ? "" : "s"} copied, ${result.snapshots.length - copied} already here; ${result.blobsCopied} blobs (${formatBytes(result.bytesCopied)}) added`);
          out.record({ message_type: "summary", copied_snapshots: copied, already_there: result.snapshots.length - copied, blobs_added: result.blobsCopied, bytes_added: result.bytesCopied });
        }),
      { at: from },
    );
  });
}

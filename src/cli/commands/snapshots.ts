import type { Command } from "commander";
import { filterSnapshots } from "../../store/snapshot/snapshot-filter.js";
import type { StoredSnapshot } from "../../store/snapshot/snapshot.js";
import { shortId } from "../../store/id.js";
import { commandContext } from "../command-context.js";
import { formatBytes } from "../parse-options.js";
import { withBackend } from "../repository-session.js";
import { listSnapshots } from "../../store/snapshot/snapshot-store.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";
import { formatTable } from "../table.js";

export function snapshotJson(s: StoredSnapshot): Record<string, unknown> {
  return {
    id: s.id,
    short_id: shortId(s.id),
    time: s.time,
    parent: s.parent,
    tree: s.tree,
    paths: s.paths,
    hostname: s.hostname,
    username: s.username,
    tags: s.tags,
    program_version: s.programVersion,
    source: s.source,
    summary: s.summary,
  };
}

export function registerSnapshots(program: Command): void {
  addSnapshotFilterOptions(program.command("snapshots").description("list snapshots"))
    .option("--latest <n>", "only the newest n snapshots")
    .action(async (flags: { host: string[]; tag: string[]; path: string[]; latest?: string }, command: Command) => {
      const { globals, out } = commandContext(command);
      await withBackend(globals, out, "shared", async (backend) => {
        let snapshots = filterSnapshots(await listSnapshots(backend), snapshotFilter(flags));
        if (flags.latest) snapshots = snapshots.slice(-Number(flags.latest));
        out.document(snapshots.map(snapshotJson));
        const rows = snapshots.map((s) => [
          shortId(s.id),
          s.time.replace("T", " ").slice(0, 19),
          s.hostname,
          s.tags.join(","),
          s.paths.join(", "),
          s.summary ? formatBytes(s.summary.totalBytesProcessed) : "",
        ]);
        out.line(formatTable(["ID", "Time", "Host", "Tags", "Paths", "Size"], rows));
        out.line(`${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"}`);
      });
    });
}

import type { Command } from "commander";
import { filterSnapshots } from "../../store/snapshot/snapshot-filter.js";
import type { StoredSnapshot } from "../../store/snapshot/snapshot.js";
import { shortId } from "../../store/id.js";
import { commandContext } from "../command-context.js";
import { formatBytes, parseInteger } from "../parse-options.js";
import { groupSnapshots, parseGroupBy, type GroupKey } from "../../prune/snapshot-grouping.js";
import { withBackend } from "../repository-session.js";
import { listSnapshots, unreadableSnapshotWarning } from "../../store/snapshot/snapshot-store.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";
import { localTime } from "../../platform/local-time.js";
import { formatTable } from "../table.js";
import { snakeCaseKeys } from "../output.js";

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
    original: s.original,
    summary: s.summary && snakeCaseKeys(s.summary),
  };
}

interface SnapshotsFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  latest?: string;
  groupBy?: string;
  compact: boolean;
}

function snapshotTable(snapshots: readonly StoredSnapshot[], compact: boolean): string {
  const rows = snapshots.map((s) => {
    const row = [shortId(s.id), localTime(s.time), s.hostname, s.tags.join(",")];
    return compact ? row : [...row, s.paths.join(", "), s.summary ? formatBytes(s.summary.totalBytesProcessed) : ""];
  });
  return formatTable(compact ? ["ID", "Time", "Host", "Tags"] : ["ID", "Time", "Host", "Tags", "Paths", "Size"], rows);
}

/** Groups as `--group-by` asks, each group's snapshots in time order. */
function groupBy(snapshots: readonly StoredSnapshot[], fields: string): { key: GroupKey; snapshots: StoredSnapshot[] }[] {
  const wrapped = snapshots.map((s) => ({ id: s.id, time: new Date(s.time), hostname: s.hostname, paths: s.paths, tags: s.tags, stored: s }));
  return groupSnapshots(wrapped, parseGroupBy(fields)).map((g) => ({ key: g.key, snapshots: g.snapshots.map((w) => w.stored) }));
}

function byTime(a: StoredSnapshot, b: StoredSnapshot): number {
  return Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id);
}

function describeKey(key: GroupKey): string {
  const parts: string[] = [];
  if (key.hostname !== undefined) parts.push(`host [${key.hostname}]`);
  if (key.paths) parts.push(`paths [${key.paths.join(", ")}]`);
  if (key.tags) parts.push(`tags [${key.tags.join(", ")}]`);
  return parts.join(", ");
}

export function registerSnapshots(program: Command): void {
  addSnapshotFilterOptions(program.command("snapshots").description("list snapshots"))
    .option("--latest <n>", "only the newest n snapshots of each host and set of paths (of each group with --group-by)")
    .option("-g, --group-by <fields>", "group by any of host, paths, tags (comma-separated)")
    .option("-c, --compact", "fewer columns: id, time, host, tags", false)
    .action(async (flags: SnapshotsFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      const latest = flags.latest === undefined ? undefined : parseInteger(flags.latest, "--latest", 1);
      await withBackend(globals, out, "read", async (backend) => {
        const snapshots = filterSnapshots(await listSnapshots(backend, (id, err) => out.warn(unreadableSnapshotWarning(id, err))), snapshotFilter(flags));
        const newest = (list: StoredSnapshot[]) => (latest === undefined ? list : list.slice(-latest));
        if (flags.groupBy !== undefined) {
          const groups = groupBy(snapshots, flags.groupBy).map((g) => ({ key: g.key, snapshots: newest(g.snapshots) }));
          out.document(groups.map((g) => ({ group_key: { hostname: g.key.hostname ?? "", paths: g.key.paths ?? [], tags: g.key.tags ?? [] }, snapshots: g.snapshots.map(snapshotJson) })));
          for (const g of groups) {
            out.result(`snapshots for ${describeKey(g.key) || "all"}:`);
            out.result(snapshotTable(g.snapshots, flags.compact));
            out.line(`${g.snapshots.length} snapshot${g.snapshots.length === 1 ? "" : "s"}`);
            out.result("");
          }
          return;
        }
        // As in restic: the newest n of each host and set of paths, listed together by time.
        const shown = latest === undefined ? snapshots : groupBy(snapshots, "host,paths").flatMap((g) => newest(g.snapshots)).sort(byTime);
        out.document(shown.map(snapshotJson));
        out.result(snapshotTable(shown, flags.compact));
        out.line(`${shown.length} snapshot${shown.length === 1 ? "" : "s"}`);
      });
    });
}

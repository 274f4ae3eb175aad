import { resolve } from "node:path";
import type { Command } from "commander";
import type { SnapshotFilter } from "../store/snapshot/snapshot-filter.js";
import { collect } from "./parse-options.js";
import { parseTime } from "./parse-time.js";

interface FilterFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
}

/** --host, --tag, --path and --at: the filters every command that takes snapshots accepts. */
export function addSnapshotFilterOptions(command: Command): Command {
  return command
    .option("--host <name>", "only snapshots of this host (repeatable)", collect, [])
    .option("--tag <tags>", "only snapshots with these comma-separated tags (repeatable: any of the sets)", collect, [])
    .option("--path <path>", "only snapshots that include this path (repeatable)", collect, [])
    .option("--at <time>", 'as things were at this time: per host and path set, the newest snapshot at or before it (ISO 8601, or e.g. "2 days ago", "yesterday 09:00")');
}

export function snapshotFilter(flags: FilterFlags): SnapshotFilter {
  // Snapshots record absolute, clean paths, as backup resolved them.
  const filter: SnapshotFilter = { hosts: flags.host, tags: flags.tag, paths: flags.path.map((p) => resolve(p)) };
  if (flags.at !== undefined) filter.at = parseTime(flags.at);
  return filter;
}

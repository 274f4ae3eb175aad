import type { Command } from "commander";
import type { SnapshotFilter } from "../store/snapshot/snapshot-filter.js";
import { snapshotPathNames } from "../store/tree/tree-walker.js";
import { collect } from "./parse-options.js";
import { parseTime, throughItsSecond } from "./parse-time.js";

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

/** Snapshots record file paths clean (`/srv/www`), as backup resolved them; other sources' names (`docker:all`) as given. */
function cleanPath(path: string): string {
  return path.startsWith("/") ? "/" + snapshotPathNames(path).join("/") : path;
}

export function snapshotFilter(flags: FilterFlags): SnapshotFilter {
  const filter: SnapshotFilter = { hosts: flags.host, tags: flags.tag, paths: flags.path.map(cleanPath) };
  if (flags.at !== undefined) filter.at = throughItsSecond(flags.at, parseTime(flags.at));
  return filter;
}

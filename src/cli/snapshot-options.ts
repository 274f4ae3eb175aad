import type { Command } from "commander";
import type { SnapshotFilter } from "../store/snapshot/snapshot-filter.js";
import { collect } from "./parse-options.js";

interface FilterFlags {
  host: string[];
  tag: string[];
  path: string[];
}

/** --host, --tag and --path: the filters every command that takes snapshots accepts. */
export function addSnapshotFilterOptions(command: Command): Command {
  return command
    .option("--host <name>", "only snapshots of this host (repeatable)", collect, [])
    .option("--tag <tags>", "only snapshots with these comma-separated tags (repeatable: any of the sets)", collect, [])
    .option("--path <path>", "only snapshots that include this path (repeatable)", collect, []);
}

export function snapshotFilter(flags: FilterFlags): SnapshotFilter {
  return { hosts: flags.host, tags: flags.tag, paths: flags.path };
}

import { UsageError } from "../errors.js";
import type { PolicySnapshot } from "./retention-policy.js";

/** Which snapshot fields `--group-by` splits on; none set means one group of everything. */
export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

/** restic's default: a policy never mixes backups of different hosts or path sets. */
export const DEFAULT_GROUP_BY: Readonly<GroupBy> = Object.freeze({ host: true, paths: true, tags: false });

const FIELDS = new Map<string, keyof GroupBy>([
  ["host", "host"],
  ["hosts", "host"],
  ["path", "paths"],
  ["paths", "paths"],
  ["tag", "tags"],
  ["tags", "tags"],
]);

/** Parses `--group-by`: a comma-separated subset of host, paths, tags (singular or plural); "" means no grouping. */
export function parseGroupBy(text: string): GroupBy {
  const groupBy: GroupBy = { host: false, paths: false, tags: false };
  for (const word of text.split(",").map((part) => part.trim())) {
    if (word === "") continue;
    const field = FIELDS.get(word);
    if (field === undefined) {
      throw new UsageError(`unknown --group-by field ${JSON.stringify(word)} (expected host, paths or tags)`);
    }
    groupBy[field] = true;
  }
  return groupBy;
}

/** The values a group shares; only the fields grouped on are present. Lists are sorted. */
export interface GroupKey {
  hostname?: string;
  paths?: string[];
  tags?: string[];
}

export interface SnapshotGroup<T extends PolicySnapshot> {
  key: GroupKey;
  /** In input order. */
  snapshots: T[];
}

/**
 * Splits snapshots into the groups a retention policy is applied to separately. Paths and
 * tags compare as sorted lists, so ["/b", "/a"] and ["/a", "/b"] share a group. Groups are
 * ordered by key (hostname, then paths, then tags) so output does not depend on listing order.
 */
export function groupSnapshots<T extends PolicySnapshot>(snapshots: readonly T[], groupBy: GroupBy): SnapshotGroup<T>[] {
  const groups = new Map<string, SnapshotGroup<T>>();
  for (const snapshot of snapshots) {
    const key: GroupKey = {};
    if (groupBy.host) key.hostname = snapshot.hostname;
    if (groupBy.paths) key.paths = [...snapshot.paths].sort(compareText);
    if (groupBy.tags) key.tags = [...snapshot.tags].sort(compareText);
    // JSON of a fixed field order is an unambiguous identity for the key.
    const id = JSON.stringify([key.hostname, key.paths, key.tags]);
    const group = groups.get(id);
    if (group) group.snapshots.push(snapshot);
    else groups.set(id, { key, snapshots: [snapshot] });
  }
  return [...groups.values()].sort((a, b) => compareKeys(a.key, b.key));
}

function compareKeys(a: GroupKey, b: GroupKey): number {
  return (
    compareText(a.hostname ?? "", b.hostname ?? "") ||
    compareLists(a.paths ?? [], b.paths ?? []) ||
    compareLists(a.tags ?? [], b.tags ?? [])
  );
}

function compareLists(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareText(a[i], b[i]);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

/** Code-unit order: locale-independent, so groups sort the same on every machine. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

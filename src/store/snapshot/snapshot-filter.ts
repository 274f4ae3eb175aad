import { UsageError } from "../../errors.js";
import type { StoredSnapshot } from "./snapshot.js";

/** Narrows a set of snapshots: every given criterion must match. */
export interface SnapshotFilter {
  hosts?: string[];
  /** Each entry is a comma-separated set of tags that must all be present; any entry may match. */
  tags?: string[];
  paths?: string[];
  /** Only snapshots taken at or before this time. */
  before?: Date;
  /** Point in time: of each host and path set, only the newest snapshot at or before this time. */
  at?: Date;
}

export function matchesFilter(s: StoredSnapshot, filter: SnapshotFilter): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(s.hostname)) return false;
  if (filter.tags?.length && !filter.tags.some((set) => set.split(",").map((t) => t.trim()).filter(Boolean).every((t) => s.tags.includes(t)))) return false;
  if (filter.paths?.length && !filter.paths.every((p) => s.paths.includes(p))) return false;
  if (filter.before && Date.parse(s.time) > filter.before.getTime()) return false;
  return true;
}

export function filterSnapshots(snapshots: readonly StoredSnapshot[], filter: SnapshotFilter): StoredSnapshot[] {
  const matching = snapshots.filter((s) => matchesFilter(s, filter));
  return filter.at ? newestPerSourceAt(matching, filter.at) : matching;
}

/** What was current at `time`: for each host and set of paths, the newest snapshot taken at or before it. */
export function newestPerSourceAt(snapshots: readonly StoredSnapshot[], time: Date): StoredSnapshot[] {
  const newest = new Map<string, StoredSnapshot>();
  for (const s of snapshots) {
    if (Date.parse(s.time) > time.getTime()) continue;
    const key = JSON.stringify([s.hostname, [...s.paths].sort()]);
    const best = newest.get(key);
    if (!best || Date.parse(s.time) >= Date.parse(best.time)) newest.set(key, s);
  }
  return snapshots.filter((s) => newest.get(JSON.stringify([s.hostname, [...s.paths].sort()])) === s);
}

/**
 * Picks one snapshot by selector: a full id, a unique id prefix, or `latest` (the newest that
 * passes the filter; with `before`, the newest at or before that time).
 */
export function selectSnapshot(snapshots: readonly StoredSnapshot[], selector: string, filter: SnapshotFilter = {}): StoredSnapshot {
  if (selector === "latest") {
    const matching = filterSnapshots(snapshots, filter);
    const newest = matching.reduce<StoredSnapshot | undefined>((best, s) => (!best || Date.parse(s.time) >= Date.parse(best.time) ? s : best), undefined);
    const until = filter.at ?? filter.before;
    if (!newest) throw new UsageError(until ? `no snapshot at or before ${until.toISOString()} matches` : "no snapshot matches: the repository has none yet, or the filters exclude them all");
    return newest;
  }
  if (filter.at) throw new UsageError(`a time (--at) and a snapshot id both name a snapshot: give "latest" with --at, or the id alone`);
  if (!/^[0-9a-f]{1,64}$/.test(selector)) throw new UsageError(`invalid snapshot id ${JSON.stringify(selector)} (use an id, a unique prefix of one, or "latest")`);
  const found = snapshots.filter((s) => s.id.startsWith(selector));
  if (found.length === 0) throw new UsageError(`no snapshot with id ${selector}`);
  if (found.length > 1) throw new UsageError(`snapshot prefix ${selector} is ambiguous (${found.length} snapshots match)`);
  return found[0]!;
}

/** The snapshots a command works on: those named (each by selectSnapshot), or else every one the filter passes. */
export function selectSnapshots(snapshots: readonly StoredSnapshot[], selectors: readonly string[], filter: SnapshotFilter = {}): StoredSnapshot[] {
  if (selectors.length === 0) return filterSnapshots(snapshots, filter);
  const chosen = new Map<string, StoredSnapshot>();
  for (const selector of selectors) {
    const s = selectSnapshot(snapshots, selector, filter);
    chosen.set(s.id, s);
  }
  return [...chosen.values()];
}

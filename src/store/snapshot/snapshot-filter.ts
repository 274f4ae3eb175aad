import { UsageError } from "../../errors.js";
import { localTime } from "../../platform/local-time.js";
import type { StoredSnapshot } from "./snapshot.js";

/** Narrows a set of snapshots: every given criterion must match. */
export interface SnapshotFilter {
  hosts?: string[];
  /** Each entry is a comma-separated set of tags that must all be present; any entry may match. An empty entry matches untagged snapshots only, as in restic. */
  tags?: string[];
  paths?: string[];
  /** Only snapshots taken at or before this time. */
  before?: Date;
  /** Point in time: of each host and path set, only the newest snapshot at or before this time. */
  at?: Date;
}

export function matchesFilter(s: StoredSnapshot, filter: SnapshotFilter): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(s.hostname)) return false;
  if (filter.tags?.length && !filter.tags.some((set) => hasTags(s, set))) return false;
  if (filter.paths?.length && !filter.paths.every((p) => s.paths.includes(p))) return false;
  if (filter.before && Date.parse(s.time) > filter.before.getTime()) return false;
  return true;
}

/** restic's rule: every tag of the set is present, where an empty tag stands for "no tags at all". */
function hasTags(s: StoredSnapshot, set: string): boolean {
  for (const tag of set.split(",").map((t) => t.trim())) {
    if (tag === "" && s.tags.length === 0) return true;
    if (!s.tags.includes(tag)) return false;
  }
  return true;
}

export function filterSnapshots(snapshots: readonly StoredSnapshot[], filter: SnapshotFilter): StoredSnapshot[] {
  const matching = snapshots.filter((s) => matchesFilter(s, filter));
  return filter.at ? newestPerSourceAt(matching, filter.at) : matching;
}

/** At equal times the larger id counts as newer, as in the listing's order and forget's. */
function isNewer(a: StoredSnapshot, than: StoredSnapshot): boolean {
  const difference = Date.parse(a.time) - Date.parse(than.time);
  return difference > 0 || (difference === 0 && a.id > than.id);
}

/** What was current at `time`: for each host and set of paths, the newest snapshot taken at or before it. */
export function newestPerSourceAt(snapshots: readonly StoredSnapshot[], time: Date): StoredSnapshot[] {
  const newest = new Map<string, StoredSnapshot>();
  for (const s of snapshots) {
    if (Date.parse(s.time) > time.getTime()) continue;
    const key = JSON.stringify([s.hostname, [...s.paths].sort()]);
    const best = newest.get(key);
    if (!best || isNewer(s, best)) newest.set(key, s);
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
    const newest = matching.reduce<StoredSnapshot | undefined>((best, s) => (!best || isNewer(s, best) ? s : best), undefined);
    const until = filter.at ?? filter.before;
    if (!newest) throw new UsageError(until ? `no snapshot at or before ${localTime(until.toISOString())} matches` : "no snapshot matches: the repository has none yet, or the filters exclude them all");
    return newest;
  }
  if (filter.at) throw new UsageError(`a time (--at) and a snapshot id both name a snapshot: give "latest" with --at, or the id alone`);
  if (!/^[0-9a-f]{1,64}$/.test(selector)) {
    // `latest:/dir` is restore's and diff's form; ls and dump take the path as an argument of its own.
    const hint = selector.includes(":") ? `; this command takes a path inside the snapshot as an argument of its own (e.g. latest /home, not latest:/home)` : ` (use an id, a unique prefix of one, or "latest")`;
    throw new UsageError(`invalid snapshot id ${JSON.stringify(selector)}${hint}`);
  }
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

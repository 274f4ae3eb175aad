import { UsageError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { filterSnapshots, selectSnapshots, type SnapshotFilter } from "../store/snapshot/snapshot-filter.js";
import type { Id } from "../store/id.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { applyRetentionPolicy, isEmptyPolicy, type PolicyOptions, type RetentionPolicy } from "./retention-policy.js";
import { groupSnapshots, type GroupBy, type GroupKey } from "./snapshot-grouping.js";

export interface ForgetRequest {
  /** Snapshots named by id, unique prefix or `latest`: exactly these are removed, no policy applies. */
  ids: readonly string[];
  policy: RetentionPolicy;
  groupBy: GroupBy;
  filter: SnapshotFilter;
  /**
   * Let a policy remove every snapshot of a group (an empty policy then removes every snapshot
   * that passes the filter), or ids name every snapshot in the repository. Off, such a request
   * is refused: it is far more often a mistake (a typo in --keep-tag, a wrong filter) than meant.
   */
  allowRemoveAll: boolean;
  policyOptions?: PolicyOptions;
}

export interface ForgetGroup {
  key: GroupKey;
  keep: { snapshot: StoredSnapshot; reasons: string[] }[];
  remove: StoredSnapshot[];
}

/** Groups in key order; within a group, newest first. */
export interface ForgetPlan {
  groups: ForgetGroup[];
  remove: StoredSnapshot[];
  /** Unreadable snapshot documents named by id: removed as they are, the only way to be rid of one. */
  removeUnreadable: Id[];
}

interface PolicyView {
  id: string;
  time: Date;
  hostname: string;
  paths: string[];
  tags: string[];
  stored: StoredSnapshot;
}

function view(s: StoredSnapshot): PolicyView {
  return { id: s.id, time: new Date(s.time), hostname: s.hostname, paths: s.paths, tags: s.tags, stored: s };
}

/** Decides which snapshots `forget` removes, following restic's semantics; changes nothing. */
/** `unreadable`: ids of snapshot documents that could not be read, which ids may name too. */
export function planForget(snapshots: readonly StoredSnapshot[], request: ForgetRequest, unreadable: readonly Id[] = []): ForgetPlan {
  if (request.ids.length > 0) return planExplicit(snapshots, request, unreadable);
  const empty = isEmptyPolicy(request.policy);
  if (empty && !request.allowRemoveAll) {
    throw new UsageError("no retention policy given: pass --keep-* options (or snapshot ids); nothing was removed");
  }
  const groups: ForgetGroup[] = [];
  for (const group of groupSnapshots(filterSnapshots(snapshots, request.filter).map(view), request.groupBy)) {
    if (empty) {
      groups.push({ key: group.key, keep: [], remove: sortNewestFirst(group.snapshots.map((v) => v.stored)) });
      continue;
    }
    const decision = applyRetentionPolicy(group.snapshots, request.policy, request.policyOptions);
    groups.push({
      key: group.key,
      keep: decision.keep.map((k) => ({ snapshot: k.snapshot.stored, reasons: k.reasons })),
      remove: decision.remove.map((v) => v.stored),
    });
  }
  if (!request.allowRemoveAll) {
    const emptied = groups.filter((g) => g.keep.length === 0 && g.remove.length > 0);
    if (emptied.length > 0) {
      throw new UsageError(
        `the policy would remove every snapshot of ${emptied.length === 1 ? "the group" : `${emptied.length} groups, e.g.`} ${describeGroupKey(emptied[0]!.key) || "(all snapshots)"}; ` +
          "nothing was removed (check the policy and filters, or pass --unsafe-allow-remove-all)",
      );
    }
  }
  return { groups, remove: groups.flatMap((g) => g.remove), removeUnreadable: [] };
}

function planExplicit(snapshots: readonly StoredSnapshot[], request: ForgetRequest, unreadable: readonly Id[]): ForgetPlan {
  if (!isEmptyPolicy(request.policy)) throw new UsageError("give either snapshot ids or --keep-* options, not both");
  // An id (or prefix) that names no readable snapshot but exactly one unreadable document names that.
  const damaged = new Map<string, Id>();
  for (const selector of request.ids) {
    if (snapshots.some((s) => s.id.startsWith(selector))) continue;
    const matches = unreadable.filter((id) => id.startsWith(selector));
    if (matches.length === 1) damaged.set(selector, matches[0]!);
  }
  const readable = request.ids.filter((selector) => !damaged.has(selector));
  const removeUnreadable = [...new Set(damaged.values())];
  if (readable.length === 0) return { groups: [], remove: [], removeUnreadable };
  const chosen = sortNewestFirst(selectSnapshots(snapshots, readable, request.filter));
  if (chosen.length === snapshots.length && !request.allowRemoveAll) {
    throw new UsageError(`these ids name every snapshot in the repository (${snapshots.length}); nothing was removed (pass --unsafe-allow-remove-all to do so)`);
  }
  const groups = groupSnapshots(chosen.map(view), request.groupBy).map((g) => ({ key: g.key, keep: [], remove: g.snapshots.map((v) => v.stored) }));
  return { groups, remove: chosen, removeUnreadable };
}

function sortNewestFirst(snapshots: StoredSnapshot[]): StoredSnapshot[] {
  return snapshots.sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** "host [web1], paths [/srv]", or "" when snapshots are not grouped. */
export function describeGroupKey(key: GroupKey): string {
  const parts: string[] = [];
  if (key.hostname !== undefined) parts.push(`host [${key.hostname}]`);
  if (key.paths) parts.push(`paths [${key.paths.join(", ")}]`);
  if (key.tags) parts.push(`tags [${key.tags.join(", ")}]`);
  return parts.join(", ");
}

/** Deletes the snapshot documents, calling `onRemoved` after each (durable) deletion. */
export async function removeSnapshots(backend: Backend, snapshots: readonly StoredSnapshot[], onRemoved?: (s: StoredSnapshot) => void): Promise<void> {
  for (const snapshot of snapshots) {
    await backend.delete(`snapshots/${snapshot.id}`);
    onRemoved?.(snapshot);
  }
}


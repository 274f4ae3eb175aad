import type { Backend } from "../backend/backend.js";
import type { Id } from "../id.js";
import type { Snapshot, StoredSnapshot } from "./snapshot.js";
import { writeSnapshot } from "./snapshot-store.js";

/** A change of tags: `set` replaces them all; `add` and `remove` edit the present ones. */
export interface TagChange {
  set?: string[];
  add?: string[];
  remove?: string[];
}

export function applyTagChange(tags: readonly string[], change: TagChange): string[] {
  const result = new Set(change.set ?? tags);
  for (const tag of change.remove ?? []) result.delete(tag);
  for (const tag of change.add ?? []) result.add(tag);
  return [...result].sort();
}

/**
 * Rewrites a snapshot with new tags. A snapshot's id is the hash of its bytes, so this writes
 * a new document (naming the first one it replaces in `original`) and only then deletes the
 * old one: at no moment is the snapshot missing. Returns undefined when the tags are unchanged.
 * The caller holds the exclusive lock, so nobody reads the pair half-way.
 */
export async function retagSnapshot(backend: Backend, snapshot: StoredSnapshot, change: TagChange): Promise<{ id: Id; snapshot: Snapshot } | undefined> {
  const tags = applyTagChange(snapshot.tags, change);
  if (tags.length === snapshot.tags.length && tags.every((t, i) => t === snapshot.tags[i])) return undefined;
  const { id: oldId, ...fields } = snapshot;
  const rewritten: Snapshot = { ...fields, tags, original: snapshot.original ?? oldId };
  // The same document may exist (an earlier run stopped between write and delete): writeSnapshot keeps it.
  const id = await writeSnapshot(backend, rewritten);
  await backend.delete(`snapshots/${oldId}`);
  return { id, snapshot: rewritten };
}

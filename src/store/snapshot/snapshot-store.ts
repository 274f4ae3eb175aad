import { IntegrityError, NotFoundError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { storeNamedByHash } from "../backend/store-named-by-hash.js";
import { hashBytes, shortId, type Id } from "../id.js";
import { parseSnapshot, serializeSnapshot, type Snapshot, type StoredSnapshot } from "./snapshot.js";

/** Snapshot documents under `snapshots/`; needs no index, so listing never waits for one. */
export async function listSnapshotIds(backend: Backend): Promise<Id[]> {
  const ids: Id[] = [];
  for await (const info of backend.list("snapshots/")) ids.push(info.key.slice("snapshots/".length));
  return ids;
}

export async function loadSnapshot(backend: Backend, id: Id): Promise<StoredSnapshot> {
  const bytes = await backend.get(`snapshots/${id}`);
  if (hashBytes(bytes) !== id) throw new IntegrityError(`snapshot ${id}: content does not match its name`);
  return parseSnapshot(id, bytes);
}

/** Snapshot documents read at once: all of them at once would run out of file descriptors. */
const LOADS_IN_FLIGHT = 32;

/** Told of a snapshot document that cannot be read, which the listing then leaves out. */
export type OnUnreadableSnapshot = (id: Id, err: IntegrityError) => void;

/**
 * All snapshots, oldest first. A damaged document fails the listing, unless `onUnreadable` is
 * given: then it is reported there and left out, so one bad file does not stop every command.
 * A document removed while the listing runs (a concurrent forget) is left out either way.
 */
export async function listSnapshots(backend: Backend, onUnreadable?: OnUnreadableSnapshot): Promise<StoredSnapshot[]> {
  const ids = await listSnapshotIds(backend);
  const load = async (id: Id): Promise<StoredSnapshot | undefined> => {
    try {
      return await loadSnapshot(backend, id);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      if (!(err instanceof IntegrityError) || !onUnreadable) throw err;
      onUnreadable(id, err);
      return undefined;
    }
  };
  const snapshots: StoredSnapshot[] = [];
  for (let i = 0; i < ids.length; i += LOADS_IN_FLIGHT) {
    for (const s of await Promise.all(ids.slice(i, i + LOADS_IN_FLIGHT).map(load))) if (s) snapshots.push(s);
  }
  return snapshots.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
}

/** The warning for a snapshot document a listing left out. */
export function unreadableSnapshotWarning(id: Id, err: IntegrityError): string {
  return `snapshot ${shortId(id)} is unreadable and was left out (${err.message}); cairn forget ${shortId(id)} removes it`;
}

export async function writeSnapshot(backend: Backend, snapshot: Snapshot): Promise<Id> {
  const bytes = serializeSnapshot(snapshot);
  const id = hashBytes(bytes);
  // The same document may be there already: a repair stopped before deleting what it replaced.
  await storeNamedByHash(backend, `snapshots/${id}`, id, bytes);
  return id;
}

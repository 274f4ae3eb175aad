import { IntegrityError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { hashBytes, type Id } from "../id.js";
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

/** All snapshots, oldest first. */
export async function listSnapshots(backend: Backend): Promise<StoredSnapshot[]> {
  const ids = await listSnapshotIds(backend);
  const snapshots: StoredSnapshot[] = [];
  for (let i = 0; i < ids.length; i += LOADS_IN_FLIGHT) {
    snapshots.push(...(await Promise.all(ids.slice(i, i + LOADS_IN_FLIGHT).map((id) => loadSnapshot(backend, id)))));
  }
  return snapshots.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
}

export async function writeSnapshot(backend: Backend, snapshot: Snapshot): Promise<Id> {
  const bytes = serializeSnapshot(snapshot);
  const id = hashBytes(bytes);
  await backend.put(`snapshots/${id}`, bytes);
  return id;
}

import type { FilesystemChange } from "./engine-client.js";

function isChange(value: unknown): value is FilesystemChange {
  const c = value as FilesystemChange;
  return typeof c === "object" && c !== null && typeof c.Path === "string" && (c.Kind === 0 || c.Kind === 1 || c.Kind === 2);
}

/** The bytes of a Buffer, or of a Buffer as JSON.stringify writes it ({"type":"Buffer","data":[…]}). */
function bufferBytes(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  const v = value as { type?: unknown; data?: unknown };
  if (typeof v === "object" && v !== null && v.type === "Buffer" && Array.isArray(v.data) && v.data.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) return Buffer.from(v.data as number[]);
  return undefined;
}

/** Changes in path order: the engine lists them in any order. */
export function byPath(changes: readonly FilesystemChange[]): FilesystemChange[] {
  return [...changes].sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}

/**
 * A container's change list from the engine's answer or from a stored changes.json, or
 * undefined when it is not one. The engine answers `null` for a container that changed
 * nothing, which dockerode hands back as a Buffer, and snapshots made before this was
 * understood hold that Buffer as JSON: both mean "no changes".
 */
export function changeList(value: unknown): FilesystemChange[] | undefined {
  if (value === null) return [];
  if (Array.isArray(value)) return value.every(isChange) ? value : undefined;
  const bytes = bufferBytes(value);
  if (!bytes) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  return bufferBytes(parsed) ? undefined : changeList(parsed);
}

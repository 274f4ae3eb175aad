import { IntegrityError } from "../../errors.js";
import { isId, type Id } from "../id.js";

/** Counters a backup records about itself. */
export interface SnapshotSummary {
  backupStart: string;
  backupEnd: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of blobs new to the repository. */
  dataAdded: number;
  /** The same blobs as stored (after compression). */
  dataAddedPacked: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  /** Files read from disk (0 for an unchanged tree: change detection worked). */
  filesRead: number;
}

export interface Snapshot {
  time: string;
  parent?: Id;
  tree: Id;
  paths: string[];
  hostname: string;
  username: string;
  uid?: number;
  gid?: number;
  tags: string[];
  programVersion: string;
  /** Free-form facts about the source, e.g. a database server version or the dump options. */
  source?: Record<string, string>;
  /** For snapshots rewritten by repair: the id of the snapshot this one replaces. */
  original?: Id;
  summary?: SnapshotSummary;
}

export interface StoredSnapshot extends Snapshot {
  id: Id;
}

const SUMMARY_KEYS: Record<keyof SnapshotSummary, string> = {
  backupStart: "backup_start",
  backupEnd: "backup_end",
  filesNew: "files_new",
  filesChanged: "files_changed",
  filesUnmodified: "files_unmodified",
  dirsNew: "dirs_new",
  dirsChanged: "dirs_changed",
  dirsUnmodified: "dirs_unmodified",
  dataBlobs: "data_blobs",
  treeBlobs: "tree_blobs",
  dataAdded: "data_added",
  dataAddedPacked: "data_added_packed",
  totalFilesProcessed: "total_files_processed",
  totalBytesProcessed: "total_bytes_processed",
  filesRead: "files_read",
};

export function serializeSnapshot(s: Snapshot): Buffer {
  const json: Record<string, unknown> = { time: s.time };
  if (s.parent) json.parent = s.parent;
  json.tree = s.tree;
  json.paths = s.paths;
  json.hostname = s.hostname;
  json.username = s.username;
  if (s.uid !== undefined) json.uid = s.uid;
  if (s.gid !== undefined) json.gid = s.gid;
  json.tags = s.tags;
  json.program_version = s.programVersion;
  if (s.source) json.source = s.source;
  if (s.original) json.original = s.original;
  if (s.summary) {
    const summary: Record<string, unknown> = {};
    for (const [key, name] of Object.entries(SUMMARY_KEYS)) summary[name] = s.summary[key as keyof SnapshotSummary];
    json.summary = summary;
  }
  return Buffer.from(JSON.stringify(json, null, 2) + "\n");
}

export function parseSnapshot(id: Id, bytes: Buffer): StoredSnapshot {
  const bad = (what: string) => new IntegrityError(`snapshot ${id}: ${what}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw bad("not valid JSON");
  }
  if (typeof doc !== "object" || doc === null) throw bad("not an object");
  const strings = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad(`${what} is not a list of strings`);
    return v as string[];
  };
  if (typeof doc.time !== "string" || Number.isNaN(Date.parse(doc.time))) throw bad("no valid time");
  if (typeof doc.tree !== "string" || !isId(doc.tree)) throw bad("no valid tree id");
  if (doc.parent !== undefined && (typeof doc.parent !== "string" || !isId(doc.parent))) throw bad("invalid parent");
  const snapshot: StoredSnapshot = {
    id,
    time: doc.time,
    tree: doc.tree,
    paths: strings(doc.paths ?? [], "paths"),
    hostname: typeof doc.hostname === "string" ? doc.hostname : "",
    username: typeof doc.username === "string" ? doc.username : "",
    tags: strings(doc.tags ?? [], "tags"),
    programVersion: typeof doc.program_version === "string" ? doc.program_version : "",
  };
  if (typeof doc.parent === "string") snapshot.parent = doc.parent;
  if (typeof doc.uid === "number") snapshot.uid = doc.uid;
  if (typeof doc.gid === "number") snapshot.gid = doc.gid;
  if (typeof doc.original === "string" && isId(doc.original)) snapshot.original = doc.original;
  if (typeof doc.source === "object" && doc.source !== null) {
    const source: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.source)) if (typeof v === "string") source[k] = v;
    snapshot.source = source;
  }
  if (typeof doc.summary === "object" && doc.summary !== null) {
    const raw = doc.summary as Record<string, unknown>;
    const summary: Record<string, unknown> = {};
    for (const [key, name] of Object.entries(SUMMARY_KEYS)) summary[key] = raw[name] ?? (key.startsWith("backup") ? "" : 0);
    snapshot.summary = summary as unknown as SnapshotSummary;
  }
  return snapshot;
}

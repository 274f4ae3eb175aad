import { isUtf8 } from "node:buffer";
import type { Id } from "../id.js";

export const NODE_TYPES = ["file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev"] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export interface ExtendedAttribute {
  name: string;
  value: Buffer;
}

/**
 * Set by `cairn repair snapshots` on a node whose data was lost: a file cut short at its first
 * missing blob (`size` and `content` then describe what is left), or a directory whose listing
 * was unreadable (its `subtree` is then the empty tree).
 */
export interface NodeDamage {
  originalSize?: number;
  missingBlob?: Id;
  originalSubtree?: Id;
}

/**
 * One entry of a directory listing. Names and link targets that are not valid UTF-8 keep their
 * exact bytes in `nameRaw` / `linkTargetRaw` (the string fields then hold a lossy display form).
 * Times are RFC 3339 strings with nanoseconds, so no precision is lost in the repository.
 */
export interface TreeNode {
  name: string;
  nameRaw?: Buffer;
  type: NodeType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  mtime: string;
  atime?: string;
  ctime?: string;
  inode?: number;
  deviceId?: number;
  links?: number;
  size?: number;
  /** Data blob ids, in order, for files. */
  content?: Id[];
  /** Tree blob id, for directories. */
  subtree?: Id;
  linkTarget?: string;
  linkTargetRaw?: Buffer;
  /** Device number, for character and block devices. */
  rdev?: number;
  xattrs?: ExtendedAttribute[];
  damage?: NodeDamage;
}

/** The exact bytes of a node's name. */
export function nodeNameBytes(node: TreeNode): Buffer {
  return node.nameRaw ?? Buffer.from(node.name, "utf8");
}

/** The exact bytes of a symlink's target. */
export function linkTargetBytes(node: TreeNode): Buffer {
  return node.linkTargetRaw ?? Buffer.from(node.linkTarget ?? "", "utf8");
}

/** Splits raw bytes into a display string plus, when they are not valid UTF-8, the raw bytes. */
export function decodeName(bytes: Buffer): { text: string; raw?: Buffer } {
  const text = bytes.toString("utf8");
  return isUtf8(bytes) ? { text } : { text, raw: Buffer.from(bytes) };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) return sameFields(a as Record<string, unknown>, b as Record<string, unknown>);
  return false;
}

function sameFields(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => key in b && sameValue(a[key], b[key]));
}

/**
 * Whether two nodes hold the same information, field by field (whatever fields a node has):
 * a directory whose nodes are all the same as the parent snapshot's has the parent's tree.
 * Several times cheaper than serializing them, and it runs for every entry of a backup.
 */
export function sameNode(a: TreeNode, b: TreeNode): boolean {
  return sameFields(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>);
}

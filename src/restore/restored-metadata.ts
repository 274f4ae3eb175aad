import { chmodSync, fchmodSync, fchownSync, lchownSync } from "node:fs";
import { setFileTimes, setOpenFileTimes } from "../platform/file-times.js";
import { writeXattrs } from "../platform/xattrs.js";
import { parseNanos } from "../store/tree/time.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/**
 * What a restored item gets of its node's metadata, in a form that crosses to the writer thread
 * (plain numbers, bigints and byte arrays) and is parsed once.
 */
export interface RestoredMetadata {
  mode: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  xattrs?: { name: string; value: Uint8Array }[];
  /** A symlink's mode cannot be set (and means nothing on Linux). */
  symlink?: boolean;
}

export function restoredMetadata(node: TreeNode): RestoredMetadata {
  const mtimeNs = parseNanos(node.mtime);
  const metadata: RestoredMetadata = { mode: node.mode & 0o7777, uid: node.uid, gid: node.gid, atimeNs: node.atime ? parseNanos(node.atime) : mtimeNs, mtimeNs };
  if (node.xattrs?.length) metadata.xattrs = node.xattrs;
  if (node.type === "symlink") metadata.symlink = true;
  return metadata;
}

const asRoot = process.getuid?.() === 0;

/**
 * Sets an item's owner (as root), extended attributes, mode and times, never following a
 * symlink. Order matters: chown clears setuid/setgid and file capabilities, so the extended
 * attributes and then the mode come after it, and the times last of all.
 */
export function applyMetadata(path: Buffer, metadata: RestoredMetadata): void {
  if (asRoot) lchownSync(path, metadata.uid, metadata.gid);
  if (metadata.xattrs) writeXattrs(path, metadata.xattrs);
  if (!metadata.symlink) chmodSync(path, metadata.mode);
  setFileTimes(path, metadata.atimeNs, metadata.mtimeNs);
}

/** applyMetadata for a regular file open as `fd`, once its bytes are written: no path to resolve but for xattrs. */
export function applyOpenFileMetadata(fd: number, path: Buffer, metadata: RestoredMetadata): void {
  if (asRoot) fchownSync(fd, metadata.uid, metadata.gid);
  if (metadata.xattrs) writeXattrs(path, metadata.xattrs);
  fchmodSync(fd, metadata.mode);
  setOpenFileTimes(fd, path, metadata.atimeNs, metadata.mtimeNs);
}

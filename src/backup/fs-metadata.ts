import type { BigIntStats } from "node:fs";
import type { NodeType, TreeNode } from "../store/tree/tree-node.js";
import { decodeName } from "../store/tree/tree-node.js";
import { formatNanos } from "../store/tree/time.js";
import { groups, users } from "./user-names.js";

export function nodeTypeOf(st: BigIntStats): NodeType | undefined {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "chardev";
  if (st.isBlockDevice()) return "blockdev";
  return undefined;
}

/** The metadata part of a node, from lstat; content, subtree and link target are filled in by the caller. */
export function nodeFromStat(nameBytes: Buffer, st: BigIntStats, type: NodeType): TreeNode {
  const { text, raw } = decodeName(nameBytes);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const node: TreeNode = {
    name: text,
    type,
    mode: Number(st.mode & 0o7777n),
    uid,
    gid,
    mtime: formatNanos(st.mtimeNs),
    ctime: formatNanos(st.ctimeNs),
    inode: Number(st.ino),
    deviceId: Number(st.dev),
    links: Number(st.nlink),
  };
  if (raw) node.nameRaw = raw;
  // Reading a directory or a link to back it up moves its atime (readdir, readlink), so
  // recording it would make every directory differ from the last snapshot. Files are read
  // with O_NOATIME, so theirs is kept.
  if (type !== "dir" && type !== "symlink") node.atime = formatNanos(st.atimeNs);
  const user = users.name(uid);
  const group = groups.name(gid);
  if (user !== undefined) node.user = user;
  if (group !== undefined) node.group = group;
  if (type === "file") node.size = Number(st.size);
  if (type === "chardev" || type === "blockdev") node.rdev = Number(st.rdev);
  return node;
}

import { splitDev, type TarEntryType } from "../../tar/tar-header.js";
import type { TarWriteHeader } from "../../tar/tar-writer.js";
import { HardlinkGroups } from "./hardlink-groups.js";
import { parseNanos } from "./time.js";
import { linkTargetBytes, type TreeNode } from "./tree-node.js";

const TAR_TYPES: Partial<Record<TreeNode["type"], TarEntryType>> = {
  file: "file",
  dir: "dir",
  symlink: "symlink",
  fifo: "fifo",
  chardev: "chardev",
  blockdev: "blockdev",
};

/**
 * The tar headers of snapshot nodes, for the archives cairn writes (dump, and the Docker
 * engine's uploads): metadata and xattrs as stored, and every name of a hard-linked file after
 * the first written as a link to it. One per archive: it remembers the first names.
 */
export class TarEntryHeaders {
  private readonly firstNames = new HardlinkGroups<Buffer>();

  /** The header of `node` at `path`; undefined for a socket, which has no tar form. A file's holds its size: its content follows. */
  headerFor(node: TreeNode, path: Buffer): TarWriteHeader | undefined {
    const type = TAR_TYPES[node.type];
    if (!type) return undefined;
    const header: TarWriteHeader = {
      path,
      type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      uname: node.user ?? "",
      gname: node.group ?? "",
      mtimeNs: parseNanos(node.mtime),
      xattrs: node.xattrs ?? [],
    };
    if (node.type === "file") {
      const first = this.firstNames.find(node);
      if (first !== undefined) return { ...header, type: "hardlink", linkTarget: first };
      this.firstNames.add(node, path);
    }
    if (node.type === "symlink") return { ...header, linkTarget: linkTargetBytes(node) };
    if (node.type === "chardev" || node.type === "blockdev") {
      const { major, minor } = splitDev(node.rdev ?? 0);
      return { ...header, devMajor: major, devMinor: minor };
    }
    if (node.type === "file") return { ...header, size: node.size ?? 0 };
    return header;
  }
}

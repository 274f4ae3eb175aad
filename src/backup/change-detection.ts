import type { TreeNode } from "../store/tree/tree-node.js";

export interface ChangeDetectionOptions {
  /** Re-read every file, trusting nothing from the parent snapshot. */
  force: boolean;
  ignoreInode: boolean;
  ignoreCtime: boolean;
}

/**
 * A file whose type, size, mtime, ctime and inode match the parent's node has the same content
 * as then, so its content list can be reused without opening it (restic's rule).
 */
export function isUnchanged(current: TreeNode, previous: TreeNode | undefined, options: ChangeDetectionOptions): boolean {
  if (options.force || !previous || previous.type !== "file" || current.type !== "file") return false;
  if (previous.content === undefined || previous.size !== current.size || previous.mtime !== current.mtime) return false;
  if (!options.ignoreCtime && previous.ctime !== current.ctime) return false;
  if (!options.ignoreInode && previous.inode !== current.inode) return false;
  return true;
}

/**
 * Setting or removing an extended attribute updates the ctime, so an object whose type, ctime
 * and inode match the parent's node still has the parent's attributes: they need not be listed
 * again (one to three system calls per file).
 */
export function xattrsUnchanged(current: TreeNode, previous: TreeNode | undefined, options: ChangeDetectionOptions): boolean {
  if (options.force || options.ignoreCtime || !previous || previous.type !== current.type) return false;
  return previous.ctime === current.ctime && previous.inode === current.inode && previous.deviceId === current.deviceId;
}

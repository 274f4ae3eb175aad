import type { Id } from "../id.js";
import type { TreeNode } from "./tree-node.js";

interface Member<T> {
  size: number;
  content: readonly Id[];
  value: T;
}

function sameData(a: { size: number; content: readonly Id[] }, b: { size: number; content: readonly Id[] }): boolean {
  return a.size === b.size && a.content.length === b.content.length && a.content.every((id, i) => id === b.content[i]);
}

/**
 * The names of one hard-linked file, found by the device and inode a backup recorded. Names
 * are linked together only if they also hold the same data: a file changed while the backup
 * read its names, or a freed inode taken by a new file during it, can leave two nodes with one
 * inode number and different contents, and linking them would give one the other's bytes.
 */
export class HardlinkGroups<T> {
  private readonly groups = new Map<string, Member<T>[]>();

  /** What was recorded for another name of this node's file with the same data, if any. */
  find(node: TreeNode): T | undefined {
    const key = hardlinkKey(node);
    if (key === undefined) return undefined;
    const data = { size: node.size ?? 0, content: node.content ?? [] };
    return this.groups.get(key)?.find((member) => sameData(member, data))?.value;
  }

  /** Records the name whose data the file's other names will share; nodes of files with one name are not kept. */
  add(node: TreeNode, value: T): void {
    const key = hardlinkKey(node);
    if (key === undefined) return;
    const members = this.groups.get(key) ?? [];
    members.push({ size: node.size ?? 0, content: node.content ?? [], value });
    this.groups.set(key, members);
  }
}

/** `device:inode` of a file recorded with more than one name; undefined for one with a single name. */
export function hardlinkKey(node: TreeNode): string | undefined {
  return node.links !== undefined && node.links > 1 && node.inode !== undefined ? `${node.deviceId ?? 0}:${node.inode}` : undefined;
}

import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import { compareNodes } from "../store/tree/tree-codec.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/**
 * added / removed: the path exists on one side only; modified: same type, different content
 * (file data, link target or device number); metadata: same content, different mode, owner,
 * mtime or extended attributes; type: the path is a different kind of thing (file -> symlink).
 */
export type ChangeKind = "added" | "removed" | "modified" | "metadata" | "type";

export interface TreeChange {
  kind: ChangeKind;
  /** Absolute path inside the compared trees. */
  path: string;
  before?: TreeNode;
  after?: TreeNode;
  /** For metadata changes: which fields differ. */
  fields?: MetadataField[];
}

export type MetadataField = "mode" | "uid" | "gid" | "user" | "group" | "mtime" | "xattrs";

/** atime and ctime are left out on purpose: reading or touching a file changes them, and that is no change of the file. */
export function metadataDifferences(a: TreeNode, b: TreeNode): MetadataField[] {
  const fields: MetadataField[] = [];
  if (a.mode !== b.mode) fields.push("mode");
  if (a.uid !== b.uid) fields.push("uid");
  if (a.gid !== b.gid) fields.push("gid");
  if ((a.user ?? "") !== (b.user ?? "")) fields.push("user");
  if ((a.group ?? "") !== (b.group ?? "")) fields.push("group");
  if (a.mtime !== b.mtime) fields.push("mtime");
  if (!sameXattrs(a, b)) fields.push("xattrs");
  return fields;
}

function sameXattrs(a: TreeNode, b: TreeNode): boolean {
  const x = a.xattrs ?? [];
  const y = b.xattrs ?? [];
  return x.length === y.length && x.every((attr, i) => attr.name === y[i]!.name && attr.value.equals(y[i]!.value));
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  switch (a.type) {
    case "file":
      return a.size === b.size && a.content!.length === b.content!.length && a.content!.every((id, i) => id === b.content![i]);
    case "symlink":
      return (a.linkTargetRaw ?? Buffer.from(a.linkTarget ?? "")).equals(b.linkTargetRaw ?? Buffer.from(b.linkTarget ?? ""));
    case "chardev":
    case "blockdev":
      return a.rdev === b.rdev;
    default:
      return true;
  }
}

/**
 * Compares two trees and yields every change in path order. Both listings are sorted by name
 * bytes, so one merge pass pairs them up; a subdirectory whose tree id is the same on both
 * sides is identical all the way down and is never loaded. That is what keeps diffing two
 * snapshots of a large, mostly unchanged tree fast.
 */
export async function* diffTrees(repo: Repository, before: Id, after: Id, dir = ""): AsyncGenerator<TreeChange> {
  if (before === after) return;
  const [left, right] = await Promise.all([repo.loadTree(before), repo.loadTree(after)]);
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const a = left[i];
    const b = right[j];
    const order = a && b ? compareNodes(a, b) : a ? -1 : 1;
    if (order < 0) {
      yield* removed(repo, a!, `${dir}/${a!.name}`);
      i++;
    } else if (order > 0) {
      yield* added(repo, b!, `${dir}/${b!.name}`);
      j++;
    } else {
      yield* diffNodes(repo, a!, b!, `${dir}/${a!.name}`);
      i++;
      j++;
    }
  }
}

async function* diffNodes(repo: Repository, a: TreeNode, b: TreeNode, path: string): AsyncGenerator<TreeChange> {
  if (a.type !== b.type) {
    yield { kind: "type", path, before: a, after: b };
    if (a.type === "dir") yield* below(repo, a, path, "removed");
    if (b.type === "dir") yield* below(repo, b, path, "added");
    return;
  }
  if (!sameContent(a, b)) {
    yield { kind: "modified", path, before: a, after: b };
  } else {
    const fields = metadataDifferences(a, b);
    if (fields.length > 0) yield { kind: "metadata", path, before: a, after: b, fields };
  }
  if (a.type === "dir") yield* diffTrees(repo, a.subtree!, b.subtree!, path);
}

async function* added(repo: Repository, node: TreeNode, path: string): AsyncGenerator<TreeChange> {
  yield { kind: "added", path, after: node };
  yield* below(repo, node, path, "added");
}

async function* removed(repo: Repository, node: TreeNode, path: string): AsyncGenerator<TreeChange> {
  yield { kind: "removed", path, before: node };
  yield* below(repo, node, path, "removed");
}

/** Everything inside a directory that exists on one side only. */
async function* below(repo: Repository, dir: TreeNode, path: string, kind: "added" | "removed"): AsyncGenerator<TreeChange> {
  if (dir.type !== "dir") return;
  for (const node of await repo.loadTree(dir.subtree!)) {
    yield* kind === "added" ? added(repo, node, `${path}/${node.name}`) : removed(repo, node, `${path}/${node.name}`);
  }
}

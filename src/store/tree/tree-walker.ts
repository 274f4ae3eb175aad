import { UsageError } from "../../errors.js";
import type { Id } from "../id.js";
import type { Repository } from "../repository.js";
import type { TreeNode } from "./tree-node.js";

export interface WalkOptions {
  /** Absolute path inside the snapshot to start from ("/" for everything). */
  start?: string;
  recursive?: boolean;
}

export interface WalkEntry {
  path: string;
  node: TreeNode;
}

/** The names along an absolute snapshot path, with `.` and `..` resolved as a shell would (`..` of the root is the root). */
export function snapshotPathNames(path: string): string[] {
  const names: string[] = [];
  for (const name of path.split("/")) {
    if (name === "..") names.pop();
    else if (name !== "" && name !== ".") names.push(name);
  }
  return names;
}

/** Like findNode, but a path that is not in the snapshot (or runs through a file) gives undefined; damage still throws. */
export async function findNodeIfPresent(repo: Repository, rootTree: Id, path: string): Promise<TreeNode | undefined> {
  try {
    return await findNode(repo, rootTree, path);
  } catch (err) {
    if (err instanceof UsageError) return undefined;
    throw err;
  }
}

/**
 * Finds the node at an absolute snapshot path; the root itself has no node. The path is read
 * as a shell reads it: `.` and `..` (of the root, the root), and only a directory can be
 * followed by another name, `.`, `..` or a trailing slash.
 */
export async function findNode(repo: Repository, rootTree: Id, path: string): Promise<TreeNode | undefined> {
  // The nodes from the root down to where the path has led so far.
  const along: TreeNode[] = [];
  const parts = path.split("/");
  for (const [index, name] of parts.entries()) {
    const node = along.at(-1);
    const last = index === parts.length - 1;
    if (node && node.type !== "dir" && (name !== "" || last)) throw new UsageError(`${path}: not a directory in the snapshot`);
    if (name === "" || name === ".") continue;
    if (name === "..") {
      along.pop();
      continue;
    }
    const matches: TreeNode[] = (await repo.loadTree(node ? node.subtree! : rootTree)).filter((n) => n.name === name);
    // Names that are not UTF-8 are matched by their text, where each bad byte reads U+FFFD:
    // two such names can read the same, and taking the first would give the wrong file.
    if (matches.length > 1) throw new UsageError(`${path}: ambiguous: ${matches.length} entries differ only in bytes that are not UTF-8`);
    if (!matches[0]) throw new UsageError(`${path}: no such file or directory in the snapshot`);
    along.push(matches[0]);
  }
  return along.at(-1);
}

/** Walks a snapshot's tree depth-first in name order, yielding every node with its path. */
export async function* walkTree(repo: Repository, rootTree: Id, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const start = "/" + snapshotPathNames(options.start ?? "/").join("/");
  // Found as given: a trailing slash must name a directory.
  const node = await findNode(repo, rootTree, options.start ?? "/");
  if (node && node.type !== "dir") {
    yield { path: start, node };
    return;
  }
  yield* walkDir(repo, node ? node.subtree! : rootTree, start === "/" ? "" : start, options.recursive ?? true);
}

async function* walkDir(repo: Repository, tree: Id, dir: string, recursive: boolean): AsyncGenerator<WalkEntry> {
  for (const node of await repo.loadTree(tree)) {
    const path = `${dir}/${node.name}`;
    yield { path, node };
    if (recursive && node.type === "dir" && node.subtree) yield* walkDir(repo, node.subtree, path, recursive);
  }
}

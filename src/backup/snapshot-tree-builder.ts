import { CairnError } from "../errors.js";
import type { Id } from "../store/id.js";
import { formatNanos } from "../store/tree/time.js";
import { nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import type { BlobSink } from "./blob-sink.js";

class VirtualDir {
  readonly children = new Map<string, VirtualDir | TreeNode>();
  constructor(readonly node: TreeNode) {}
}

function key(node: TreeNode): string {
  return nodeNameBytes(node).toString("latin1");
}

/** Metadata for a directory that exists only in the snapshot (e.g. /postgres). */
export function syntheticDirNode(name: string, time = new Date()): TreeNode {
  return {
    name,
    type: "dir",
    mode: 0o755,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    mtime: formatNanos(BigInt(time.getTime()) * 1_000_000n),
  };
}

/**
 * The snapshot's root tree, assembled from every source: each source places its nodes at its
 * absolute path, and the directories above them are filled in. Written bottom-up at the end.
 */
export class SnapshotTreeBuilder {
  private readonly root = new VirtualDir(syntheticDirNode("/"));

  /**
   * Where a finished node already holds the path at `components`: the index of the component
   * it stands for (the path itself, or a directory above it that an earlier source archived);
   * undefined if none does. A file or symlink holds nothing below it (backup /x/link
   * /x/link/sub): that is ensureDir's to refuse.
   */
  coveredAt(components: readonly string[]): number | undefined {
    let dir = this.root;
    for (const [depth, name] of components.entries()) {
      const next = dir.children.get(Buffer.from(name, "utf8").toString("latin1"));
      if (next === undefined) return undefined;
      if (!(next instanceof VirtualDir)) return next.type === "dir" || depth === components.length - 1 ? depth : undefined;
      dir = next;
    }
    return undefined;
  }

  /** Makes sure the directories along `components` exist, describing new ones with `describe`. */
  ensureDir(components: readonly string[], describe: (depth: number) => TreeNode): void {
    let dir = this.root;
    components.forEach((_, depth) => {
      const node = describe(depth);
      const existing = dir.children.get(key(node));
      if (existing instanceof VirtualDir) {
        dir = existing;
      } else if (existing !== undefined) {
        // Replacing it would silently drop everything an earlier source stored there.
        throw new CairnError(`/${components.slice(0, depth + 1).join("/")} is already stored by another source of this backup${existing.type === "dir" ? "" : ` as a ${existing.type}, so nothing below it can be`}`);
      } else {
        const created = new VirtualDir({ ...node, type: "dir" });
        dir.children.set(key(node), created);
        dir = created;
      }
    });
  }

  /**
   * Places a finished node (a file, or a directory with its subtree) under the directory at
   * `parent`. Two sources that name the same path with different contents (two servers whose
   * dumps map to one file name) are refused: the second would silently replace the first.
   */
  put(parent: readonly string[], node: TreeNode): void {
    let dir = this.root;
    for (const name of parent) {
      const next = dir.children.get(Buffer.from(name, "utf8").toString("latin1"));
      if (!(next instanceof VirtualDir)) throw new Error(`internal: ${parent.join("/")} was not prepared`);
      dir = next;
    }
    const existing = dir.children.get(key(node));
    const conflict = existing instanceof VirtualDir ? node.type !== "dir" : existing !== undefined && !sameContent(existing, node);
    if (conflict) {
      throw new CairnError(`/${[...parent, node.name].join("/")} is already stored by another source of this backup`);
    }
    dir.children.set(key(node), node);
  }

  async write(repo: BlobSink): Promise<Id> {
    return writeDir(repo, this.root);
  }
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  return a.type === b.type && a.subtree === b.subtree && a.size === b.size && (a.content ?? []).join() === (b.content ?? []).join();
}

async function writeDir(repo: BlobSink, dir: VirtualDir): Promise<Id> {
  const nodes: TreeNode[] = [];
  for (const child of dir.children.values()) {
    if (child instanceof VirtualDir) nodes.push({ ...child.node, subtree: await writeDir(repo, child) });
    else nodes.push(child);
  }
  return repo.saveTree(nodes);
}

import type { Id } from "../store/id.js";
import { nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import type { BlobSink } from "./blob-sink.js";

/** A directory of the parent snapshot, as change detection needs it. */
export interface ParentListing {
  /** Nodes by the latin1 form of their name bytes (a lossless key for any bytes). */
  nodes: Map<string, TreeNode>;
  /** Files whose every content blob is still in the repository: only these may be reused. */
  reusable: Set<TreeNode>;
  /** The tree of the first subdirectory in name order, which the walk enters first. */
  firstSubtree?: Id;
}

/** Listings kept ahead of the walk, at most. */
const MAX_AHEAD = 64;

/**
 * Loads the parent snapshot's directories for the walk, each with one batched index query for
 * its files' blobs (a query per blob would hold up the walk for each). Listings can be asked for
 * ahead of need, so reading, decoding and querying overlap the work on the directories before.
 */
export class ParentListings {
  private readonly ahead = new Map<Id, Promise<ParentListing | undefined>>();

  constructor(private readonly repo: BlobSink) {}

  prefetch(tree: Id): void {
    if (this.ahead.has(tree) || this.ahead.size >= MAX_AHEAD) return;
    const loading = this.load(tree);
    // A failure shows again, and is handled, when the directory itself takes its listing.
    loading.catch(() => undefined);
    this.ahead.set(tree, loading);
  }

  /** Forgets a listing asked for ahead that will not be taken, and the ones it asked for. */
  drop(tree: Id): void {
    const loading = this.ahead.get(tree);
    if (!loading) return;
    this.ahead.delete(tree);
    loading.then(
      (listing) => listing?.firstSubtree && this.drop(listing.firstSubtree),
      () => undefined,
    );
  }

  /** The listing of `tree`, or undefined when it cannot be read: that only costs change detection. */
  take(tree: Id): Promise<ParentListing | undefined> {
    const loading = this.ahead.get(tree);
    this.ahead.delete(tree);
    return loading ?? this.load(tree);
  }

  private async load(tree: Id): Promise<ParentListing | undefined> {
    let nodes: TreeNode[];
    try {
      nodes = await this.repo.loadTree(tree);
    } catch {
      return undefined;
    }
    const byName = new Map<string, TreeNode>();
    const ids: Id[] = [];
    for (const node of nodes) {
      byName.set(nodeNameBytes(node).toString("latin1"), node);
      if (node.type === "file" && node.content) ids.push(...node.content);
    }
    const present = new Set<Id>();
    const found = ids.length > 0 ? await this.repo.hasBlobs(ids) : [];
    ids.forEach((id, i) => found[i] && present.add(id));
    const reusable = new Set<TreeNode>();
    for (const node of nodes) if (node.type === "file" && node.content?.every((id) => present.has(id))) reusable.add(node);
    const listing: ParentListing = { nodes: byName, reusable };
    // Nodes are in name order: the walk goes down the first subdirectory next, so its listing
    // (and, in turn, its own first subdirectory's) loads now rather than when the walk gets there.
    const firstSubtree = nodes.find((node) => node.type === "dir")?.subtree;
    if (firstSubtree) {
      listing.firstSubtree = firstSubtree;
      this.prefetch(firstSubtree);
    }
    return listing;
  }
}

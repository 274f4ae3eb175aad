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
/** Complete-tree marks written together. */
const MARK_BATCH = 256;
/** Trees written by a backup that are remembered to be marked at its end (about 100 bytes each). */
const MAX_WRITTEN = 100_000;

/**
 * Loads the parent snapshot's directories for the walk, each with one batched index query for
 * its files' blobs (a query per blob would hold up the walk for each), or a single key once the
 * tree is marked complete. Listings can be asked for ahead of need, so reading, decoding and
 * querying overlap the work on the directories before.
 */
export class ParentListings {
  private readonly ahead = new Map<Id, Promise<ParentListing | undefined>>();
  private toMark: Id[] = [];
  private marking: Promise<void> = Promise.resolve();
  /** Trees this backup wrote: complete once the backup's blobs are flushed (and so indexed). */
  private readonly written = new Set<Id>();

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

  /**
   * A directory tree this backup made: every file in it was stored or reused, so once the
   * backup is flushed the next one can trust it with one key. Bounded: past MAX_WRITTEN trees,
   * the rest are left to be checked blob by blob (and marked then).
   */
  noteWritten(tree: Id): void {
    if (this.written.size < MAX_WRITTEN) this.written.add(tree);
  }

  /** Writes the last marks; `flushed`: everything this backup stored is indexed. Call once the walk is over. */
  async close(flushed: boolean): Promise<void> {
    if (flushed) this.toMark.push(...this.written);
    this.written.clear();
    this.writeMarks();
    await this.marking;
  }

  /**
   * The files whose blobs are all indexed. A tree found complete before is asked about with one
   * key; otherwise every blob is, and a tree found complete is marked for the next backup.
   */
  private async reusableFiles(tree: Id, files: TreeNode[]): Promise<Set<TreeNode>> {
    if (this.repo.isCompleteTree(tree)) return new Set(files);
    const ids = files.flatMap((file) => file.content!);
    const found = await this.repo.hasBlobs(ids);
    const missing = new Set(ids.filter((_, i) => !found[i]));
    const reusable = new Set(files.filter((file) => file.content!.every((id) => !missing.has(id))));
    if (missing.size === 0) {
      this.toMark.push(tree);
      if (this.toMark.length >= MARK_BATCH) this.writeMarks();
    }
    return reusable;
  }

  private writeMarks(): void {
    if (this.toMark.length === 0) return;
    const ids = this.toMark;
    this.toMark = [];
    // Marks only save work: a failure to write them costs the next backup some index queries.
    this.marking = this.marking.then(() => this.repo.markCompleteTrees(ids)).catch(() => undefined);
  }

  private async load(tree: Id): Promise<ParentListing | undefined> {
    let nodes: TreeNode[];
    try {
      nodes = await this.repo.loadTree(tree, { cache: false });
    } catch {
      return undefined;
    }
    const byName = new Map<string, TreeNode>();
    const files: TreeNode[] = [];
    for (const node of nodes) {
      byName.set(nodeNameBytes(node).toString("latin1"), node);
      if (node.type === "file" && node.content) files.push(node);
    }
    const reusable = files.length > 0 ? await this.reusableFiles(tree, files) : new Set<TreeNode>();
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

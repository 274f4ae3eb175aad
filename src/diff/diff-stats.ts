import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import type { TreeChange } from "./tree-diff.js";

export interface AddedRemoved {
  added: number;
  removed: number;
}

/** The footer of a diff: how many items of each kind came and went, and the data behind them. */
export interface DiffStats {
  files: AddedRemoved & { modified: number };
  dirs: AddedRemoved;
  others: AddedRemoved;
  metadataChanged: number;
  typeChanged: number;
  /** Data blobs one side references and the other does not. */
  dataBlobs: AddedRemoved;
  /** Plain bytes of those blobs. */
  bytes: AddedRemoved;
}

/**
 * Accumulates a DiffStats from the changes of diffTrees. A blob of a changed file counts as
 * added only if the other side uses it nowhere (a copy of a file kept on both sides adds
 * nothing, as restic counts it); only those few candidates are looked for in the other tree.
 */
export class DiffStatsCollector {
  private readonly counts = {
    files: { added: 0, removed: 0, modified: 0 },
    dirs: { added: 0, removed: 0 },
    others: { added: 0, removed: 0 },
    metadataChanged: 0,
    typeChanged: 0,
  };
  private readonly before = new Set<Id>();
  private readonly after = new Set<Id>();

  add(change: TreeChange): void {
    switch (change.kind) {
      case "added":
        this.count(change.after!, "added");
        break;
      case "removed":
        this.count(change.before!, "removed");
        break;
      case "modified":
        if (change.after!.type === "file") this.counts.files.modified++;
        break;
      case "metadata":
        this.counts.metadataChanged++;
        break;
      case "type":
        this.counts.typeChanged++;
        break;
    }
    for (const id of change.before?.content ?? []) this.before.add(id);
    for (const id of change.after?.content ?? []) this.after.add(id);
  }

  private count(node: TreeNode, side: "added" | "removed"): void {
    const group = node.type === "file" ? this.counts.files : node.type === "dir" ? this.counts.dirs : this.counts.others;
    group[side]++;
  }

  /** `trees`: the two trees compared, before and after. */
  async finish(repo: Repository, trees: { before: Id; after: Id }): Promise<DiffStats> {
    const dataBlobs = { added: 0, removed: 0 };
    const bytes = { added: 0, removed: 0 };
    const tally = async (ids: Set<Id>, other: Set<Id>, otherTree: Id, side: "added" | "removed") => {
      const candidates = new Set([...ids].filter((id) => !other.has(id)));
      await dropUsedIn(repo, otherTree, candidates, new Set());
      for (const id of candidates) {
        dataBlobs[side]++;
        bytes[side] += repo.lookupBlob(id)?.plainLength ?? 0;
      }
    };
    await tally(this.after, this.before, trees.before, "added");
    await tally(this.before, this.after, trees.after, "removed");
    return { ...this.counts, dataBlobs, bytes };
  }
}

/** Removes from `candidates` every blob a file below `tree` uses; stops once none is left. */
async function dropUsedIn(repo: Repository, tree: Id, candidates: Set<Id>, seen: Set<Id>): Promise<void> {
  if (candidates.size === 0 || seen.has(tree)) return;
  seen.add(tree);
  for (const node of await repo.loadTree(tree)) {
    for (const id of node.content ?? []) candidates.delete(id);
    if (node.subtree) await dropUsedIn(repo, node.subtree, candidates, seen);
    if (candidates.size === 0) return;
  }
}

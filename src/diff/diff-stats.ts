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
  /** Data blobs referenced by the changed files of one side and not the other. */
  dataBlobs: AddedRemoved;
  /** Plain bytes of those blobs. */
  bytes: AddedRemoved;
}

/**
 * Accumulates a DiffStats from the changes of diffTrees. Blob counts cover the changed parts
 * only (identical subtrees hold the same blobs on both sides and cancel out anyway); a blob
 * that moved from one changed file to another counts as neither added nor removed.
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

  finish(repo: Repository): DiffStats {
    const dataBlobs = { added: 0, removed: 0 };
    const bytes = { added: 0, removed: 0 };
    const tally = (ids: Set<Id>, other: Set<Id>, side: "added" | "removed") => {
      for (const id of ids) {
        if (other.has(id)) continue;
        dataBlobs[side]++;
        bytes[side] += repo.lookupBlob(id)?.plainLength ?? 0;
      }
    };
    tally(this.after, this.before, "added");
    tally(this.before, this.after, "removed");
    return { ...this.counts, dataBlobs, bytes };
  }
}

import { IntegrityError, InterruptedError, NotFoundError } from "../errors.js";
import { shortId, type Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { parseTree } from "../store/tree/tree-codec.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import { BlobIdSet } from "./blob-id-set.js";

/** Trees loaded at once: enough to keep the disk busy, few enough to bound memory. */
const TREE_READS = 8;

export interface UsedBlobsProgress {
  trees: number;
  blobs: number;
}

/**
 * Every blob (tree and data) that some snapshot needs, as an on-disk set in `scratchDir`. A
 * tree shared by several snapshots or directories is read once: it enters the set when first
 * seen and is skipped after that. The caller destroys the returned set.
 */
export async function findUsedBlobs(
  repo: Repository,
  snapshots: readonly StoredSnapshot[],
  scratchDir: string,
  onProgress?: (progress: UsedBlobsProgress) => void,
  signal?: AbortSignal,
): Promise<BlobIdSet> {
  const used = await BlobIdSet.create(scratchDir);
  try {
    // Depth-first: pending trees stay few (the siblings along one path), unlike breadth-first.
    const pending: { tree: Id; snapshot: Id }[] = [];
    for (const snapshot of snapshots) {
      if (await used.add(snapshot.tree)) pending.push({ tree: snapshot.tree, snapshot: snapshot.id });
    }
    let trees = 0;
    while (pending.length > 0) {
      if (signal?.aborted) throw new InterruptedError();
      const batch = pending.splice(-TREE_READS);
      const loaded = await Promise.all(batch.map((item) => loadTree(repo, item.tree, item.snapshot)));
      for (const [i, nodes] of loaded.entries()) {
        trees++;
        for (const node of nodes) {
          for (const id of node.content ?? []) await used.add(id);
          if (node.subtree && (await used.add(node.subtree))) pending.push({ tree: node.subtree, snapshot: batch[i]!.snapshot });
        }
      }
      onProgress?.({ trees, blobs: used.size });
    }
    await used.flush();
    return used;
  } catch (err) {
    await used.destroy();
    throw err;
  }
}

/** Reads a tree without Repository's tree cache: each is read once here, caching would only hold memory. */
async function loadTree(repo: Repository, tree: Id, snapshot: Id): Promise<TreeNode[]> {
  try {
    const location = repo.lookupBlob(tree);
    if (!location) throw new NotFoundError("it is in no index");
    return parseTree(tree, await repo.readBlobAt(tree, location));
  } catch (err) {
    throw new IntegrityError(
      `snapshot ${shortId(snapshot)} needs tree ${shortId(tree)}, which cannot be read (${(err as Error).message}); nothing was deleted — run cairn check`,
    );
  }
}

import type { Id } from "../store/id.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import type { BlobSink } from "./blob-sink.js";

/** Finds nodes of the parent snapshot by path, for change detection. */
export class ParentLookup {
  constructor(
    private readonly repo: Pick<BlobSink, "loadTree">,
    private readonly rootTree: Id | undefined,
  ) {}

  async nodeAt(components: readonly string[]): Promise<TreeNode | undefined> {
    let tree = this.rootTree;
    let node: TreeNode | undefined;
    for (const name of components) {
      if (!tree) return undefined;
      try {
        node = (await this.repo.loadTree(tree)).find((n) => n.name === name && !n.nameRaw);
      } catch {
        return undefined;
      }
      if (!node) return undefined;
      tree = node.subtree;
    }
    return node;
  }
}

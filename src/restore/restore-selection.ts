import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/** Decides per snapshot path whether an item is restored. */
export type RestoreFilter = (path: string, isDir: boolean) => boolean;

/** False when nothing below a directory can pass the filter, so the walk need not look inside. */
export type DescendFilter = (dirPath: string) => boolean;

/**
 * Which items of a snapshot a filtered restore writes: everything the filter selects, plus the
 * directories that lead to something selected (and only those: a restore of `*.pdf` creates
 * no empty directory trees). Whether a directory leads anywhere is looked up once per path.
 */
export class RestoreSelection {
  private readonly leads = new Map<string, boolean>();

  constructor(
    private readonly repo: Repository,
    private readonly filter: RestoreFilter | undefined,
    private readonly descend: DescendFilter | undefined,
  ) {}

  get filtered(): boolean {
    return this.filter !== undefined;
  }

  /** Whether a path that exists in the target but not in the snapshot is in the restore's reach (for --delete). */
  covers(path: string, isDir: boolean): boolean {
    return !this.filter || this.filter(path, isDir);
  }

  async wants(node: TreeNode, path: string): Promise<boolean> {
    if (!this.filter) return true;
    if (this.filter(path, node.type === "dir")) return true;
    return node.type === "dir" && (await this.leadsToSelected(node.subtree!, path));
  }

  private async leadsToSelected(tree: Id, dir: string): Promise<boolean> {
    const known = this.leads.get(dir);
    if (known !== undefined) return known;
    let found = false;
    if (this.descend?.(dir) !== false) {
      for (const child of await this.repo.loadTree(tree)) {
        if (await this.wants(child, `${dir}/${child.name}`)) {
          found = true;
          break;
        }
      }
    }
    this.leads.set(dir, found);
    return found;
  }
}

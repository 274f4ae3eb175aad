import * as fs from "node:fs/promises";
import * as path from "node:path";
import { CairnError, UsageError } from "../errors.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import type { BackupContext } from "./backup-context.js";
import type { BackupSource } from "./backup-source.js";
import { archiveEntry } from "./directory-archiver.js";
import { nodeFromStat } from "./fs-metadata.js";
import type { ParentLookup } from "./parent-lookup.js";
import type { SnapshotTreeBuilder } from "./snapshot-tree-builder.js";

/** A file or directory on the local file system, stored at its absolute path. */
export class PathSource implements BackupSource {
  readonly path: string;

  constructor(target: string) {
    // path.resolve("") is the working directory: an empty argument (say, an unset shell variable) would back that up.
    if (target === "") throw new UsageError('empty path: name a file or directory (use "." for the current directory)');
    this.path = path.resolve(target);
  }

  /** Fails early, before anything is written, when the path cannot be backed up at all. */
  async check(): Promise<void> {
    try {
      await fs.lstat(this.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CairnError(code === "ENOENT" ? `${this.path}: no such file or directory` : `${this.path}: ${code ?? (err as Error).message}`);
    }
  }

  async archive(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup): Promise<void> {
    const components = this.path.split("/").filter(Boolean);
    const coveredAt = tree.coveredAt(components);
    if (coveredAt !== undefined) {
      // Inside a path another source already archived (backup /a /a/b): its content is there,
      // unless a symlink on the way leads elsewhere (backup /a /a/link/b): /a holds the link.
      for (let depth = coveredAt + 1; depth < components.length - 1; depth++) {
        const dir = "/" + components.slice(0, depth + 1).join("/");
        if ((await fs.lstat(dir)).isSymbolicLink()) throw new CairnError(`${dir} is already stored by another source of this backup as a symlink, so nothing below it can be`);
      }
      return;
    }
    const ancestors = components.slice(0, -1);
    const ancestorNodes: TreeNode[] = [];
    for (let depth = 0; depth < ancestors.length; depth++) {
      const dir = "/" + ancestors.slice(0, depth + 1).join("/");
      // Followed: a symlink on the way is stored as the directory it leads to, not with the
      // link's own mode (0777), which restore would give a real directory.
      ancestorNodes.push(nodeFromStat(Buffer.from(ancestors[depth]!), await fs.stat(dir, { bigint: true }), "dir"));
    }
    tree.ensureDir(ancestors, (depth) => ancestorNodes[depth]!);
    const st = await fs.lstat(this.path, { bigint: true });
    const previous = await parent.nodeAt(components);
    const bytes = Buffer.from(this.path);
    const node = await archiveEntry(ctx, { real: bytes, access: bytes }, st, previous, st.dev);
    if (!node) return;
    if (components.length === 0) {
      // Backing up "/" itself: its entries become the root's children.
      await ctx.repo.flush();
      for (const child of node.subtree ? await ctx.repo.loadTree(node.subtree) : []) tree.put([], child);
      return;
    }
    tree.put(ancestors, node);
  }
}

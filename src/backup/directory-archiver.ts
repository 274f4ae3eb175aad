import * as fs from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { InterruptedError } from "../errors.js";
import type { Id } from "../store/id.js";
import { decodeName, nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import type { BackupContext } from "./backup-context.js";
import { isUnchanged } from "./change-detection.js";
import { saveContent } from "./file-saver.js";
import { readFile } from "./file-reader.js";
import { nodeFromStat, nodeTypeOf } from "./fs-metadata.js";
import { Semaphore } from "./semaphore.js";

/** Small files are read a few at a time so their open/read/close latencies overlap. */
const fileSlots = new Semaphore(4);

export type ChangeKind = "new" | "changed" | "unmodified";

function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 1 && dir[0] === 0x2f) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.from("/"), name]);
}

function display(path: Buffer): string {
  return path.toString("utf8");
}

/** Archives one file-system object (given its lstat) into a node, or undefined when it is skipped. */
export async function archiveEntry(ctx: BackupContext, path: Buffer, st: BigIntStats, previous: TreeNode | undefined, rootDevice: bigint): Promise<TreeNode | undefined> {
  if (ctx.signal?.aborted) throw new InterruptedError();
  const type = nodeTypeOf(st);
  const name = path.subarray(path.lastIndexOf(0x2f) + 1);
  if (!type) {
    ctx.warn({ path: display(path), message: "unsupported file type, skipped" });
    return undefined;
  }
  if (ctx.exclude?.(display(path), type === "dir", Number(st.size))) return undefined;
  const node = nodeFromStat(name.length > 0 ? name : Buffer.from("/"), st, type);
  switch (type) {
    case "file":
      return (await archiveFile(ctx, path, st, node, previous)) ? node : undefined;
    case "dir": {
      const result = await archiveDirectory(ctx, path, previous?.type === "dir" ? previous.subtree : undefined, rootDevice);
      if (!result) return undefined;
      node.subtree = result;
      return node;
    }
    case "symlink": {
      try {
        const target = await fs.readlink(path, { encoding: "buffer" });
        const { text, raw } = decodeName(target);
        node.linkTarget = text;
        if (raw) node.linkTargetRaw = raw;
      } catch (err) {
        ctx.warn({ path: display(path), message: `cannot read link: ${(err as Error).message}` });
        return undefined;
      }
      return node;
    }
    default:
      return node;
  }
}

async function archiveFile(ctx: BackupContext, path: Buffer, st: BigIntStats, node: TreeNode, previous: TreeNode | undefined): Promise<boolean> {
  ctx.counters.filesProcessed++;
  ctx.counters.bytesProcessed += Number(st.size);
  if (isUnchanged(node, previous, ctx.changeDetection) && previous!.content!.every((id) => ctx.repo.hasBlob(id))) {
    node.content = previous!.content!;
    ctx.counters.filesUnmodified++;
    return true;
  }
  return fileSlots.run(async () => {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, "r");
    } catch (err) {
      ctx.warn({ path: display(path), message: `cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return false;
    }
    try {
      ctx.onFile?.(display(path));
      ctx.counters.filesRead++;
      const saved = await saveContent(ctx.repo, readFile(handle));
      node.content = saved.content;
      node.size = saved.size;
      const after = await handle.stat({ bigint: true });
      if (after.size !== st.size || after.mtimeNs !== st.mtimeNs) {
        ctx.warn({ path: display(path), message: "file changed while it was read" });
      }
    } catch (err) {
      if (err instanceof InterruptedError || !(err as NodeJS.ErrnoException).code) throw err;
      ctx.warn({ path: display(path), message: `read error: ${(err as NodeJS.ErrnoException).code}` });
      return false;
    } finally {
      await handle.close();
    }
    if (previous?.type === "file") ctx.counters.filesChanged++;
    else ctx.counters.filesNew++;
    return true;
  });
}

/**
 * Archives a directory: one node per entry, files read a few at a time, subdirectories in
 * turn (so memory follows the tree's depth, not its size), then one tree blob. Returns the
 * tree id, or undefined when the directory is excluded by --exclude-if-present.
 */
export async function archiveDirectory(ctx: BackupContext, dir: Buffer, previousTree: Id | undefined, rootDevice: bigint): Promise<Id | undefined> {
  let names: Buffer[];
  try {
    names = await fs.readdir(dir, { encoding: "buffer" });
  } catch (err) {
    ctx.warn({ path: display(dir), message: `cannot read directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    names = [];
  }
  if (ctx.excludeIfPresent.some((marker) => names.some((n) => n.toString("utf8") === marker))) return undefined;
  const previousNodes = new Map<string, TreeNode>();
  if (previousTree) {
    try {
      for (const node of await ctx.repo.loadTree(previousTree)) previousNodes.set(nodeNameBytes(node).toString("latin1"), node);
    } catch {
      // A damaged or missing parent tree only costs us change detection here.
    }
  }
  const nodes: TreeNode[] = [];
  const files: Promise<void>[] = [];
  const subdirs: { path: Buffer; st: BigIntStats; previous: TreeNode | undefined }[] = [];
  const stats = await statAll(ctx, names.map((name) => joinPath(dir, name)));
  names.forEach((name, i) => {
    const st = stats[i];
    if (!st) return;
    const path = joinPath(dir, name);
    const previous = previousNodes.get(name.toString("latin1"));
    if (st.isDirectory()) {
      if (!ctx.oneFileSystem || st.dev === rootDevice) subdirs.push({ path, st, previous });
    } else {
      files.push(archiveEntry(ctx, path, st, previous, rootDevice).then((node) => void (node && nodes.push(node))));
    }
  });
  await Promise.all(files);
  for (const sub of subdirs) {
    const node = await archiveEntry(ctx, sub.path, sub.st, sub.previous, rootDevice);
    if (node) nodes.push(node);
  }
  const id = await ctx.repo.saveTree(nodes);
  const kind: ChangeKind = previousTree === undefined ? "new" : previousTree === id ? "unmodified" : "changed";
  if (kind === "new") ctx.counters.dirsNew++;
  else if (kind === "changed") ctx.counters.dirsChanged++;
  else ctx.counters.dirsUnmodified++;
  return id;
}

const STAT_BATCH = 64;

/** lstat in parallel batches: one at a time would leave the thread pool idle on large directories. */
async function statAll(ctx: BackupContext, paths: Buffer[]): Promise<(BigIntStats | undefined)[]> {
  const result: (BigIntStats | undefined)[] = [];
  for (let i = 0; i < paths.length; i += STAT_BATCH) {
    const batch = paths.slice(i, i + STAT_BATCH);
    result.push(
      ...(await Promise.all(
        batch.map((path) =>
          fs.lstat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
            ctx.warn({ path: display(path), message: `cannot stat: ${err.code ?? err.message}` });
            return undefined;
          }),
        ),
      )),
    );
  }
  return result;
}

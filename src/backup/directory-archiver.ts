import { constants as fsConstants, type BigIntStats } from "node:fs";
import * as fs from "node:fs/promises";
import { InterruptedError } from "../errors.js";
import type { Id } from "../store/id.js";
import { decodeName, nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import { readXattrs } from "../platform/xattrs.js";
import type { BackupContext, SavedFile } from "./backup-context.js";
import { isUnchanged } from "./change-detection.js";
import { saveContent } from "./file-saver.js";
import { readFile } from "./file-reader.js";
import { nodeFromStat, nodeTypeOf } from "./fs-metadata.js";
import { Semaphore } from "./semaphore.js";

/** Small files are read a few at a time so their open/read/close latencies overlap. */
const fileSlots = new Semaphore(4);

/**
 * A path as the user knows it (`real`, for messages and excludes) and as system calls get it
 * (`access`). They differ below very deep directories: PATH_MAX is 4096 bytes, so past
 * ANCHOR_AFTER bytes a directory is opened and reached as /proc/self/fd/N instead.
 */
export interface FsPath {
  real: Buffer;
  access: Buffer;
}

const ANCHOR_AFTER = 3072;

export type ChangeKind = "new" | "changed" | "unmodified";

function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 1 && dir[0] === 0x2f) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.from("/"), name]);
}

function child(dir: FsPath, name: Buffer): FsPath {
  return { real: joinPath(dir.real, name), access: joinPath(dir.access, name) };
}

function display(path: FsPath): string {
  return path.real.toString("utf8");
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Archives one file-system object (given its lstat) into a node, or undefined when it is skipped. */
export async function archiveEntry(ctx: BackupContext, path: FsPath, st: BigIntStats, previous: TreeNode | undefined, rootDevice: bigint): Promise<TreeNode | undefined> {
  if (ctx.signal?.aborted) throw new InterruptedError();
  const type = nodeTypeOf(st);
  const name = path.real.subarray(path.real.lastIndexOf(0x2f) + 1);
  if (!type) {
    ctx.warn({ path: display(path), message: "unsupported file type, skipped" });
    return undefined;
  }
  if (ctx.exclude?.(display(path), type === "dir", Number(st.size))) return undefined;
  const node = nodeFromStat(name.length > 0 ? name : Buffer.from("/"), st, type);
  try {
    const xattrs = readXattrs(path.access);
    if (xattrs.length > 0) node.xattrs = xattrs;
  } catch (err) {
    ctx.warn({ path: display(path), message: `cannot read extended attributes: ${errorCode(err)}` });
  }
  switch (type) {
    case "file":
      return (await archiveFile(ctx, path, st, node, previous)) ? node : undefined;
    case "dir": {
      const crossesDevice = ctx.oneFileSystem && st.dev !== rootDevice;
      // A mount point under --one-file-system is kept as an empty directory, as restic does.
      const result = crossesDevice ? await ctx.repo.saveTree([]) : await archiveDirectory(ctx, path, previous?.type === "dir" ? previous.subtree : undefined, rootDevice);
      if (!result) return undefined;
      node.subtree = result;
      return node;
    }
    case "symlink": {
      try {
        const target = await fs.readlink(path.access, { encoding: "buffer" });
        const { text, raw } = decodeName(target);
        node.linkTarget = text;
        if (raw) node.linkTargetRaw = raw;
      } catch (err) {
        ctx.warn({ path: display(path), message: `cannot read link: ${errorCode(err)}` });
        return undefined;
      }
      return node;
    }
    default:
      return node;
  }
}

async function archiveFile(ctx: BackupContext, path: FsPath, st: BigIntStats, node: TreeNode, previous: TreeNode | undefined): Promise<boolean> {
  const done = (kind: ChangeKind, size: number) => {
    ctx.counters.filesProcessed++;
    if (kind === "unmodified") ctx.counters.filesUnmodified++;
    else if (kind === "changed") ctx.counters.filesChanged++;
    else ctx.counters.filesNew++;
    if (kind === "unmodified") ctx.counters.bytesProcessed += size;
    return true;
  };
  if (isUnchanged(node, previous, ctx.changeDetection) && previous!.content!.every((id) => ctx.repo.hasBlob(id))) {
    node.content = previous!.content!;
    return done("unmodified", node.size ?? 0);
  }
  const kind: ChangeKind = previous?.type === "file" ? "changed" : "new";
  const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
  const sibling = linkKey ? ctx.hardlinks.get(linkKey) : undefined;
  if (sibling) {
    // Another link to this inode is read in this backup: one read serves both.
    const saved = await sibling;
    if (!saved) return false;
    node.content = saved.content;
    node.size = saved.size;
    ctx.counters.bytesProcessed += saved.size;
    return done(kind, saved.size);
  }
  const reading = fileSlots.run(() => readContent(ctx, path, st));
  if (linkKey) ctx.hardlinks.set(linkKey, reading);
  const saved = await reading;
  if (!saved) return false;
  node.content = saved.content;
  node.size = saved.size;
  return done(kind, saved.size);
}

/** Opens without updating the access time where the kernel allows it (owner or root). */
async function openForReading(path: Buffer): Promise<fs.FileHandle> {
  const noatime = fsConstants.O_NOATIME ?? 0;
  try {
    return await fs.open(path, fsConstants.O_RDONLY | noatime);
  } catch (err) {
    if (noatime === 0 || (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    return fs.open(path, fsConstants.O_RDONLY);
  }
}

async function readContent(ctx: BackupContext, path: FsPath, st: BigIntStats): Promise<SavedFile | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await openForReading(path.access);
  } catch (err) {
    ctx.warn({ path: display(path), message: `cannot open: ${errorCode(err)}` });
    return undefined;
  }
  try {
    ctx.onFile?.(display(path));
    ctx.counters.filesRead++;
    const saved = await saveContent(ctx.repo, readFile(handle, ctx.signal), (n) => (ctx.counters.bytesProcessed += n));
    const after = await handle.stat({ bigint: true });
    if (after.size !== st.size || after.mtimeNs !== st.mtimeNs) {
      ctx.warn({ path: display(path), message: "file changed while it was read" });
    }
    return saved;
  } catch (err) {
    if (err instanceof InterruptedError || !(err as NodeJS.ErrnoException).code) throw err;
    ctx.warn({ path: display(path), message: `read error: ${errorCode(err)}` });
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Archives a directory: one node per entry, files read a few at a time, subdirectories in
 * turn (so memory follows the tree's depth, not its size), then one tree blob. Returns the
 * tree id, or undefined when the directory is excluded by --exclude-if-present.
 */
export async function archiveDirectory(ctx: BackupContext, dir: FsPath, previousTree: Id | undefined, rootDevice: bigint): Promise<Id | undefined> {
  let anchor: fs.FileHandle | undefined;
  if (dir.access.length > ANCHOR_AFTER) {
    try {
      anchor = await fs.open(dir.access, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      dir = { real: dir.real, access: Buffer.from(`/proc/self/fd/${anchor.fd}`) };
    } catch (err) {
      ctx.warn({ path: display(dir), message: `cannot open directory: ${errorCode(err)}` });
      return ctx.repo.saveTree([]);
    }
  }
  try {
    return await archiveEntries(ctx, dir, previousTree, rootDevice);
  } finally {
    await anchor?.close();
  }
}

async function archiveEntries(ctx: BackupContext, dir: FsPath, previousTree: Id | undefined, rootDevice: bigint): Promise<Id | undefined> {
  let names: Buffer[];
  try {
    names = await fs.readdir(dir.access, { encoding: "buffer" });
  } catch (err) {
    ctx.warn({ path: display(dir), message: `cannot read directory: ${errorCode(err)}` });
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
  const subdirs: { path: FsPath; st: BigIntStats; previous: TreeNode | undefined }[] = [];
  const paths = names.map((name) => child(dir, name));
  const stats = await statAll(ctx, paths);
  names.forEach((name, i) => {
    const st = stats[i];
    if (!st) return;
    const path = paths[i]!;
    const previous = previousNodes.get(name.toString("latin1"));
    if (st.isDirectory()) subdirs.push({ path, st, previous });
    else files.push(archiveEntry(ctx, path, st, previous, rootDevice).then((node) => void (node && nodes.push(node))));
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
async function statAll(ctx: BackupContext, paths: FsPath[]): Promise<(BigIntStats | undefined)[]> {
  const result: (BigIntStats | undefined)[] = [];
  for (let i = 0; i < paths.length; i += STAT_BATCH) {
    const batch = paths.slice(i, i + STAT_BATCH);
    result.push(
      ...(await Promise.all(
        batch.map((path) =>
          fs.lstat(path.access, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
            ctx.warn({ path: display(path), message: `cannot stat: ${errorCode(err)}` });
            return undefined;
          }),
        ),
      )),
    );
  }
  return result;
}

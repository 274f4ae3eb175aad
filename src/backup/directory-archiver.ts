import { constants as fsConstants, lstatSync, readdirSync, type BigIntStats } from "node:fs";
import * as fs from "node:fs/promises";
import { InterruptedError } from "../errors.js";
import type { Id } from "../store/id.js";
import { decodeName, sameNode, type TreeNode } from "../store/tree/tree-node.js";
import { readXattrs } from "../platform/xattrs.js";
import type { BackupContext, SavedFile } from "./backup-context.js";
import { isUnchanged, xattrsUnchanged } from "./change-detection.js";
import { holdsExclusionMarker } from "./exclusion-marker.js";
import { nodeFromStat, nodeTypeOf } from "./fs-metadata.js";


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
  const real = joinPath(dir.real, name);
  // Away from anchors both are the same bytes: one buffer serves (one allocation per entry, not two).
  return { real, access: dir.access === dir.real ? real : joinPath(dir.access, name) };
}

function display(path: FsPath): string {
  return path.real.toString("utf8");
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Archives one file-system object (given its lstat) into a node, or undefined when it is skipped. */
export async function archiveEntry(ctx: BackupContext, path: FsPath, st: BigIntStats, previous: TreeNode | undefined, rootDevice: bigint, reusable?: boolean): Promise<TreeNode | undefined> {
  if (ctx.signal?.aborted) throw new InterruptedError();
  const type = nodeTypeOf(st);
  const name = path.real.subarray(path.real.lastIndexOf(0x2f) + 1);
  if (!type) {
    ctx.warn({ path: display(path), message: "unsupported file type, skipped" });
    return undefined;
  }
  if (ctx.exclude?.(display(path), type === "dir", Number(st.size))) return undefined;
  const node = nodeFromStat(name.length > 0 ? name : Buffer.from("/"), st, type);
  if (xattrsUnchanged(node, previous, ctx.changeDetection, ctx.racy)) {
    if (previous!.xattrs) node.xattrs = previous!.xattrs;
  } else {
    try {
      const xattrs = readXattrs(path.access);
      if (xattrs.length > 0) node.xattrs = xattrs;
    } catch (err) {
      ctx.warn({ path: display(path), message: `cannot read extended attributes: ${errorCode(err)}` });
    }
  }
  switch (type) {
    case "file":
      return (await archiveFile(ctx, path, st, node, previous, reusable)) ? node : undefined;
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

/**
 * `reusable`: whether the previous node's blobs are all in the repository, as its directory's
 * listing found (see ParentListings); unknown for a path given on its own, asked here then.
 */
async function archiveFile(ctx: BackupContext, path: FsPath, st: BigIntStats, node: TreeNode, previous: TreeNode | undefined, reusable: boolean | undefined): Promise<boolean> {
  const done = (kind: ChangeKind) => {
    ctx.counters.filesProcessed++;
    if (kind === "unmodified") ctx.counters.filesUnmodified++;
    else if (kind === "changed") ctx.counters.filesChanged++;
    else ctx.counters.filesNew++;
    return true;
  };
  if (isUnchanged(node, previous, ctx.changeDetection, ctx.racy) && (reusable ?? previous!.content!.every((id) => ctx.repo.hasBlob(id)))) {
    node.content = previous!.content!;
    ctx.counters.bytesProcessed += node.size ?? 0;
    return done("unmodified");
  }
  const kind: ChangeKind = previous?.type === "file" ? "changed" : "new";
  // With the change time and size: an inode freed and taken by a new file during the backup
  // (or a file changed between reading two of its names) must not pass for the one read.
  const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}` : undefined;
  const sibling = linkKey ? ctx.hardlinks.get(linkKey) : undefined;
  // Read again only because its times were too close to the parent backup's (or its blobs were
  // missing), and found as it was: unmodified, as restic counts a node equal to the parent's.
  const kindOf = (content: readonly Id[]) => (kind === "changed" && isUnchanged(node, previous, ctx.changeDetection) && sameIds(previous!.content!, content) ? "unmodified" : kind);
  // Another link to this inode is read in this backup: one read serves both. If that read
  // failed (the other name vanished, say), this name is read on its own.
  const fromSibling = sibling ? await sibling : undefined;
  if (fromSibling) {
    node.content = fromSibling.content;
    node.size = fromSibling.size;
    ctx.counters.bytesProcessed += fromSibling.size;
    return done(kindOf(fromSibling.content));
  }
  const reading = readContent(ctx, path, st);
  if (linkKey) ctx.hardlinks.set(linkKey, reading);
  const saved = await reading;
  if (!saved) return false;
  node.content = saved.content;
  node.size = saved.size;
  return done(kindOf(saved.content));
}

function sameIds(a: readonly Id[], b: readonly Id[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

async function readContent(ctx: BackupContext, path: FsPath, st: BigIntStats): Promise<SavedFile | undefined> {
  ctx.onFile?.(display(path));
  const outcome = await ctx.files.read(path.access, Number(st.size));
  if ("error" in outcome) {
    const { during, code } = outcome.error;
    ctx.warn({ path: display(path), message: during === "open" ? `cannot open: ${code}` : `read error: ${code}` });
    return undefined;
  }
  ctx.counters.filesRead++;
  warnIfChanged(ctx, path, st, outcome.after);
  return { content: outcome.content, size: outcome.size };
}

/**
 * Size and mtime, not the ctime: a rename, a new or removed hard link or a chmod during the
 * read changes the ctime, not the bytes, and would fail the backup's exit code for nothing. A
 * rewrite that keeps the size and sets the mtime back is missed here, and read again by the
 * next backup (its ctime differs from the one stored).
 */
function warnIfChanged(ctx: BackupContext, path: FsPath, before: BigIntStats, after: { size: bigint; mtimeNs: bigint }): void {
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) {
    ctx.warn({ path: display(path), message: "file changed while it was read" });
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
    names = readdirSync(dir.access, { encoding: "buffer" });
  } catch (err) {
    ctx.warn({ path: display(dir), message: `cannot read directory: ${errorCode(err)}` });
    names = [];
  }
  if (ctx.exclusionMarkers.length > 0 && holdsExclusionMarker(dir.access, names, ctx.exclusionMarkers)) return undefined;
  const parent = previousTree ? await ctx.parents.take(previousTree) : undefined;
  const nodes: TreeNode[] = [];
  const pending: Promise<void>[] = [];
  const subdirs: { name: Buffer; path: FsPath; st: BigIntStats; previous: TreeNode | undefined }[] = [];
  const paths = names.map((name) => child(dir, name));
  const stats = statAll(ctx, paths);
  const previousOf = (i: number) => parent?.nodes.get(names[i]!.toString("latin1"));
  stats.forEach((st, i) => st?.isDirectory() && subdirs.push({ name: names[i]!, path: paths[i]!, st, previous: previousOf(i) }));
  // In name order, as the parent's tree lists them, so the listings loaded ahead are the ones needed next.
  subdirs.sort((a, b) => Buffer.compare(a.name, b.name));
  // The parent listings of the first subdirectories load while this directory's files are done.
  const prefetchFrom = (first: number) => {
    for (const { previous } of subdirs.slice(first, first + TREE_PREFETCH)) if (previous?.type === "dir" && previous.subtree) ctx.parents.prefetch(previous.subtree);
  };
  prefetchFrom(0);
  // Whether every node so far is the same as the parent's node of that name.
  let asParent = parent !== undefined;
  const add = (node: TreeNode | undefined, previous: TreeNode | undefined) => {
    if (!node) return;
    nodes.push(node);
    if (asParent && (!previous || !sameNode(node, previous))) asParent = false;
  };
  stats.forEach((st, i) => {
    if (!st || st.isDirectory()) return;
    const previous = previousOf(i);
    const archived = archiveEntry(ctx, paths[i]!, st, previous, rootDevice, previous !== undefined && parent!.reusable.has(previous)).then((node) => add(node, previous));
    // Awaited below; handled here so that a failure while the walk goes on is not "unhandled".
    archived.catch(() => undefined);
    pending.push(archived);
  });
  // While files are being read on the workers, the walk goes on into further subdirectories
  // instead of waiting for each (see FileBatcher.runAhead).
  for (let i = 0; i < subdirs.length; i++) {
    prefetchFrom(i + 1);
    const sub = subdirs[i]!;
    const walked = archiveEntry(ctx, sub.path, sub.st, sub.previous, rootDevice).then((node) => add(node, sub.previous));
    if (await ctx.files.runAhead(walked)) pending.push(walked);
    else await walked;
  }
  await Promise.all(pending);
  // Listings of subdirectories that were excluded (or are no longer directories) were never taken.
  for (const { previous } of subdirs) if (previous?.subtree) ctx.parents.drop(previous.subtree);
  // Names are unique, so as many nodes as the parent's, each the same as one of them, is the parent's tree.
  const id = asParent && nodes.length === parent!.nodes.size ? previousTree! : await ctx.repo.saveTree(nodes);
  if (id !== previousTree) ctx.parents.noteWritten(id);
  const kind: ChangeKind = previousTree === undefined ? "new" : previousTree === id ? "unmodified" : "changed";
  if (kind === "new") ctx.counters.dirsNew++;
  else if (kind === "changed") ctx.counters.dirsChanged++;
  else ctx.counters.dirsUnmodified++;
  return id;
}

const TREE_PREFETCH = 8;

/**
 * lstat of every entry, synchronously: for metadata in the kernel's caches a call costs about a
 * microsecond, where each asynchronous one costs a round trip through libuv's thread pool.
 */
function statAll(ctx: BackupContext, paths: FsPath[]): (BigIntStats | undefined)[] {
  return paths.map((path) => {
    try {
      return lstatSync(path.access, { bigint: true });
    } catch (err) {
      ctx.warn({ path: display(path), message: `cannot stat: ${errorCode(err)}` });
      return undefined;
    }
  });
}

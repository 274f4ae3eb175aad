import { createHash } from "node:crypto";
import { InterruptedError } from "../../errors.js";
import type { BackupContext } from "../../backup/backup-context.js";
import { saveContent } from "../../backup/file-saver.js";
import type { Id } from "../../store/id.js";
import { formatNanos } from "../../store/tree/time.js";
import { decodeName, nodeNameBytes, type NodeType, type TreeNode } from "../../store/tree/tree-node.js";
import { isUnsupported, readTar } from "../../tar/tar-reader.js";
import { makeDev, type TarHeader } from "../../tar/tar-header.js";

export interface TarTreeOptions {
  /** Leading path components dropped from every entry (1 for an archive of "/v", whose entries start "v/"). */
  strip?: number;
  /** The snapshot path the tree is stored at, for progress and warnings. */
  snapshotPath: string;
  /** The same directory in the parent snapshot, to tell new, changed and unmodified files apart. */
  previousTree?: Id;
}

export interface TarTree {
  tree: Id;
  /** Metadata of the archive's top directory, when the tar has an entry for it. */
  root?: TreeNode;
}

const NODE_TYPES: Record<Exclude<TarHeader["type"], "hardlink">, NodeType> = {
  file: "file",
  dir: "dir",
  symlink: "symlink",
  chardev: "chardev",
  blockdev: "blockdev",
  fifo: "fifo",
};

class TarDir {
  readonly children = new Map<string, TarDir | TreeNode>();
  constructor(public node: TreeNode | undefined) {}
}

function keyOf(name: Buffer): string {
  return name.toString("latin1");
}

function splitPath(path: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      const part = path.subarray(start, i);
      if (part.length > 0 && !(part.length === 1 && part[0] === 0x2e)) parts.push(part);
      start = i + 1;
    }
  }
  return parts;
}

function nodeFromHeader(name: Buffer, header: TarHeader, type: NodeType): TreeNode {
  const { text, raw } = decodeName(name);
  const node: TreeNode = { name: text, type, mode: header.mode, uid: header.uid, gid: header.gid, mtime: formatNanos(header.mtimeNs) };
  if (raw) node.nameRaw = raw;
  if (header.uname) node.user = header.uname;
  if (header.gname) node.group = header.gname;
  if (header.xattrs.length > 0) node.xattrs = header.xattrs.map((x) => ({ name: x.name, value: x.value }));
  if (type === "symlink") {
    const target = decodeName(header.linkTarget);
    node.linkTarget = target.text;
    if (target.raw) node.linkTargetRaw = target.raw;
  }
  if (type === "chardev" || type === "blockdev") node.rdev = makeDev(header.devMajor, header.devMinor);
  return node;
}

function syntheticDir(name: Buffer): TreeNode {
  const { text, raw } = decodeName(name);
  const node: TreeNode = { name: text, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: formatNanos(0n) };
  if (raw) node.nameRaw = raw;
  return node;
}

/**
 * Turns a tar stream (a container export, an archive of a volume) into a tree of files in the
 * repository, so that ls, diff, find and partial restores work inside it. File contents are
 * chunked and deduplicated like any file; hard links keep their link (shared inode number);
 * directories are written bottom-up once the whole archive has been read, since a tar need
 * not list a directory's entries together.
 */
export class TarTreeBuilder {
  private readonly root = new TarDir(undefined);
  /** Hard-link groups, keyed by their first name: every name of the same file. */
  private readonly linkGroups = new Map<TreeNode, TreeNode[]>();
  /** Which group each name belongs to (a link may point at another link). */
  private readonly groupOf = new Map<TreeNode, TreeNode>();
  private readonly previousListings = new Map<string, Map<string, TreeNode> | undefined>();

  constructor(
    private readonly ctx: BackupContext,
    private readonly options: TarTreeOptions,
  ) {}

  async read(source: AsyncIterable<Uint8Array>): Promise<TarTree> {
    for await (const entry of readTar(source)) {
      if (this.ctx.signal?.aborted) throw new InterruptedError();
      if (isUnsupported(entry)) {
        this.ctx.warn({ path: this.display(splitPath(entry.path)), message: `${entry.unsupported} is not supported, skipped` });
        continue;
      }
      await this.add(entry.header, entry.body);
    }
    return this.write();
  }

  private display(parts: readonly Buffer[]): string {
    return [this.options.snapshotPath, ...parts.map((p) => p.toString("utf8"))].join("/");
  }

  private dirAt(parts: readonly Buffer[]): TarDir {
    let dir = this.root;
    for (const part of parts) {
      const next = dir.children.get(keyOf(part));
      if (next instanceof TarDir) {
        dir = next;
        continue;
      }
      // Nothing or a file where a directory is needed: a directory it is, as when tar extracts.
      const created = new TarDir(undefined);
      dir.children.set(keyOf(part), created);
      dir = created;
    }
    return dir;
  }

  private nodeAt(parts: readonly Buffer[]): TreeNode | undefined {
    const parent = this.dirAt(parts.slice(0, -1));
    const found = parent.children.get(keyOf(parts[parts.length - 1]!));
    return found instanceof TarDir ? undefined : found;
  }

  private async add(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parts = splitPath(header.path).slice(this.options.strip ?? 0);
    if (parts.length === 0) {
      if (header.type === "dir" && splitPath(header.path).length === (this.options.strip ?? 0)) this.root.node = nodeFromHeader(Buffer.from(""), header, "dir");
      return;
    }
    if (parts.some((p) => p.length === 2 && p[0] === 0x2e && p[1] === 0x2e)) {
      this.ctx.warn({ path: this.display(parts), message: "path leaves the archive (..), skipped" });
      return;
    }
    const name = parts[parts.length - 1]!;
    const parent = this.dirAt(parts.slice(0, -1));
    if (header.type === "dir") {
      const existing = parent.children.get(keyOf(name));
      const node = nodeFromHeader(name, header, "dir");
      if (existing instanceof TarDir) existing.node = node;
      else parent.children.set(keyOf(name), new TarDir(node));
      return;
    }
    if (header.type === "hardlink") {
      const targetParts = splitPath(header.linkTarget).slice(this.options.strip ?? 0);
      const target = targetParts.length > 0 ? this.nodeAt(targetParts) : undefined;
      if (!target || target.type !== "file") {
        this.ctx.warn({ path: this.display(parts), message: `hard link to ${header.linkTarget.toString("utf8")}, which is not in the archive, skipped` });
        return;
      }
      const { text, raw } = decodeName(name);
      const node: TreeNode = { ...target, name: text };
      if (raw) node.nameRaw = raw;
      else delete node.nameRaw;
      const head = this.groupOf.get(target) ?? target;
      const group = this.linkGroups.get(head) ?? [head];
      group.push(node);
      this.linkGroups.set(head, group);
      this.groupOf.set(node, head);
      parent.children.set(keyOf(name), node);
      return;
    }
    const node = nodeFromHeader(name, header, NODE_TYPES[header.type]);
    if (header.type === "file") await this.saveFile(parts, node, body);
    parent.children.set(keyOf(name), node);
  }

  private async saveFile(parts: readonly Buffer[], node: TreeNode, body: AsyncIterable<Buffer>): Promise<void> {
    const counters = this.ctx.counters;
    this.ctx.onFile?.(this.display(parts));
    const saved = await saveContent(this.ctx.repo, body);
    node.content = saved.content;
    node.size = saved.size;
    counters.filesProcessed++;
    counters.filesRead++;
    counters.bytesProcessed += saved.size;
    const previous = (await this.previousListing(parts.slice(0, -1)))?.get(keyOf(parts[parts.length - 1]!));
    if (!previous) counters.filesNew++;
    else if (previous.type === "file" && previous.content?.length === saved.content.length && previous.content.every((id, i) => id === saved.content[i])) counters.filesUnmodified++;
    else counters.filesChanged++;
  }

  /** The listing of a directory of the parent snapshot's tree, by path below the root. */
  private async previousListing(parts: readonly Buffer[]): Promise<Map<string, TreeNode> | undefined> {
    const key = keyOf(Buffer.concat(parts.flatMap((p) => [p, Buffer.from("/")])));
    if (this.previousListings.has(key)) return this.previousListings.get(key);
    let tree: Id | undefined;
    if (parts.length === 0) tree = this.options.previousTree;
    else {
      const above = await this.previousListing(parts.slice(0, -1));
      const node = above?.get(keyOf(parts[parts.length - 1]!));
      tree = node?.type === "dir" ? node.subtree : undefined;
    }
    let listing: Map<string, TreeNode> | undefined;
    if (tree) {
      try {
        listing = new Map((await this.ctx.repo.loadTree(tree)).map((n) => [keyOf(nodeNameBytes(n)), n]));
      } catch {
        // A damaged parent tree only costs the new/changed/unmodified counts.
      }
    }
    this.previousListings.set(key, listing);
    return listing;
  }

  private async write(): Promise<TarTree> {
    // Hard links are told apart by device and inode when restored. A tar has neither, so each
    // group gets a number, on a device of its own to this snapshot path: the links of two
    // containers restored together never join, and the same tar still gives the same tree.
    const device = parseInt(createHash("sha256").update(this.options.snapshotPath).digest("hex").slice(0, 12), 16);
    let inode = 0;
    for (const group of this.linkGroups.values()) {
      inode++;
      for (const node of group) {
        node.inode = inode;
        node.deviceId = device;
        node.links = group.length;
      }
    }
    const tree = await this.writeDir(this.root, this.options.previousTree);
    return this.root.node ? { tree, root: this.root.node } : { tree };
  }

  private async writeDir(dir: TarDir, previousTree: Id | undefined): Promise<Id> {
    let previous: Map<string, TreeNode> | undefined;
    if (previousTree) {
      try {
        previous = new Map((await this.ctx.repo.loadTree(previousTree)).map((n) => [keyOf(nodeNameBytes(n)), n]));
      } catch {
        previous = undefined;
      }
    }
    const nodes: TreeNode[] = [];
    for (const [key, child] of dir.children) {
      if (!(child instanceof TarDir)) {
        nodes.push(child);
        continue;
      }
      const before = previous?.get(key);
      const subtree = await this.writeDir(child, before?.type === "dir" ? before.subtree : undefined);
      nodes.push({ ...(child.node ?? syntheticDir(Buffer.from(key, "latin1"))), subtree });
    }
    const id = await this.ctx.repo.saveTree(nodes);
    if (previousTree === undefined) this.ctx.counters.dirsNew++;
    else if (previousTree === id) this.ctx.counters.dirsUnmodified++;
    else this.ctx.counters.dirsChanged++;
    return id;
  }
}

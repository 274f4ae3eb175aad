import { constants as fsConstants, mkdirSync, unlinkSync } from "node:fs";
import * as fs from "node:fs/promises";
import { dirname } from "node:path";
import { CairnError, IntegrityError, InterruptedError, ioError } from "../errors.js";
import { findNode, snapshotPathNames } from "../store/tree/tree-walker.js";
import { decodeBlobInto } from "../store/blob-codec.js";
import type { Id } from "../store/id.js";
import { packKey } from "../store/pack/pack-format.js";
import { BULK_READ_GAP, BULK_READ_MAX, readRanges } from "../store/pack/read-ranges.js";
import { RangeReader } from "../store/backend/range-reader.js";
import type { Repository } from "../store/repository.js";
import { parseNanos } from "../store/tree/time.js";
import { makeSpecialFile } from "../platform/special-files.js";
import { linkTargetBytes, nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import { FileWriteQueue, type WriteTarget } from "./file-write-queue.js";
import { HardlinkGroups } from "../store/tree/hardlink-groups.js";
import { RestorePlan, type FileTarget, type PlannedBlob } from "./restore-plan.js";
import { applyMetadata, restoredMetadata, type RestoredMetadata } from "./restored-metadata.js";
import { RestoreSelection, type DescendFilter, type RestoreFilter } from "./restore-selection.js";
import { RepositoryGuard } from "./repository-guard.js";
import { unsafeNameReason } from "./safe-name.js";
import { verifyRestoredFile } from "./verify-restored.js";

const PACK_READS_IN_FLIGHT = 3;
const FILES_PER_ROUND = 65_536;
const ANCHOR_AFTER = 3072;

export type OverwritePolicy = "always" | "if-changed" | "if-newer" | "never";

export interface RestoreOptions {
  target: string;
  /** Restore only what is below this path of the snapshot (e.g. "/home/ann"). */
  subpath?: string;
  /** Decides per snapshot path whether to restore it; directories leading to a selected item are restored too. */
  filter?: RestoreFilter;
  /** Lets the walk skip directories below which the filter can select nothing. */
  descend?: DescendFilter;
  overwrite?: OverwritePolicy;
  /** Remove what the target holds that the snapshot does not, inside the restored directories and within the filter. */
  delete?: boolean;
  /** Read every restored file back and check each chunk against its blob id. */
  verify?: boolean;
  /** Decide everything, write nothing: report through onItem what a restore would do. */
  dryRun?: boolean;
  /** Told of every decision in a dry run (with the snapshot's path; a deletion with the target's), otherwise of each deletion. */
  onItem?: (action: RestoreAction, path: string) => void;
  /** Told about each item that could not be restored (the restore goes on). */
  onProblem?: (problem: RestoreProblem) => void;
  onFileDone?: (path: string, bytes: number) => void;
  signal?: AbortSignal;
  /**
   * How many files are planned before their contents are written (default 65,536): a restore
   * of any size then holds at most that many files' plans, not the whole snapshot's.
   */
  filesPerRound?: number;
}

export type RestoreAction = "restore" | "skip" | "delete";

export interface RestoreProblem {
  path: string;
  message: string;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  others: number;
  bytes: number;
  skipped: number;
  /** Files that could not be restored whole: named with the reason. */
  damaged: RestoreProblem[];
  problems: RestoreProblem[];
  /** Items removed from the target by `delete` (or that would be, in a dry run). */
  deleted: number;
  /** Files read back and found equal to the snapshot, with `verify`. */
  verified: number;
  /** Files read back and found different, with `verify`. */
  mismatches: RestoreProblem[];
}

interface MetadataTarget {
  path: Buffer;
  metadata: RestoredMetadata;
}

/** A blob whose copy in `packId` could not be read, decoded or verified. */
interface FailedBlob {
  blob: PlannedBlob;
  packId: Id;
  message: string;
}

/**
 * Creates `dir` and its missing parents. Not fs.mkdir's `recursive`: under /proc, where mkdir
 * fails with ENOENT though the parent exists, Node's loop retries for ever.
 */
async function makeDirs(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && (await fs.stat(dir)).isDirectory()) return;
    if (code !== "ENOENT" || dirname(dir) === dir) throw err;
  }
  await makeDirs(dirname(dir));
  await fs.mkdir(dir, { mode: 0o700 });
}

/** What stands at `path`: nothing, a directory, or something else (a file, a link, a FIFO). */
async function standingAt(path: Buffer): Promise<"nothing" | "directory" | "other"> {
  try {
    return (await fs.lstat(path)).isDirectory() ? "directory" : "other";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "nothing";
    throw err;
  }
}

/** A name beside `path` for writing its new version, short enough whatever the file's name. */
function temporarySibling(path: Buffer, n: number): Buffer {
  return Buffer.concat([path.subarray(0, path.lastIndexOf(0x2f) + 1), Buffer.from(`.cairn-restore-${process.pid}-${n}`)]);
}

/** Creates the target directory (and its parents); a target that cannot be one is the caller's mistake, said in one line. */
async function makeTarget(target: Buffer): Promise<void> {
  try {
    await makeDirs(target.toString());
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    const reason = code === "EEXIST" ? "it exists and is not a directory" : code === "ENOTDIR" ? "a part of the path is not a directory" : undefined;
    throw reason ? new CairnError(`cannot restore into ${target.toString()}: ${reason}`) : ioError("cannot create", target.toString(), err);
  }
}

/** A target path for messages: the target as given may end in a slash, which joining doubles. */
function shown(path: Buffer): string {
  return path.toString("utf8").replace(/\/{2,}/g, "/");
}

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from("/"), name]);
}

/**
 * Restores a snapshot (or a part of it) into a directory: the tree is walked creating
 * directories, symlinks and special files and planning file contents; every `filesPerRound`
 * files (and at the end) the planned contents are written pack by pack (each pack read once per
 * round; every blob decoded here and checked against its id, here or on the writer thread,
 * which writes it and sets each file's metadata after its last write); then hard links, then
 * directory metadata from the deepest up.
 */
export class Restorer {
  private plan = new RestorePlan();
  private files: FileTarget[] = [];
  private readonly hardlinks = new HardlinkGroups<FileTarget>();
  private readonly links: { path: Buffer; display: string; to: FileTarget }[] = [];
  private metadata: MetadataTarget[] = [];
  private readonly dirs: MetadataTarget[] = [];
  private readonly result: RestoreResult = { files: 0, dirs: 0, others: 0, bytes: 0, skipped: 0, damaged: [], problems: [], deleted: 0, verified: 0, mismatches: [] };
  private readonly anchors: fs.FileHandle[] = [];
  private writes?: FileWriteQueue;
  private guard?: RepositoryGuard;
  /** Temporary names handed out (see temporarySibling). */
  private temporaries = 0;

  private readonly selection: RestoreSelection;
  private readonly rehearsedLinks = new HardlinkGroups<true>();

  constructor(
    private readonly repo: Repository,
    private readonly options: RestoreOptions,
  ) {
    this.selection = new RestoreSelection(repo, options.filter, options.descend);
  }

  async restore(treeId: Id): Promise<RestoreResult> {
    let finished = false;
    try {
      const result = await this.restoreAll(treeId);
      finished = true;
      return result;
    } finally {
      await this.writes?.close();
      if (!finished) this.removeTemporaries();
      await Promise.all(this.anchors.map((anchor) => anchor.close()));
    }
  }

  /** After a failure: the new versions begun in this round go; what they were to replace stays. */
  private removeTemporaries(): void {
    for (const file of this.files) {
      if (!file.temporary) continue;
      try {
        unlinkSync(file.temporary);
      } catch {
        // Never made, or already in its place.
      }
    }
  }

  private async restoreAll(treeId: Id): Promise<RestoreResult> {
    const target = Buffer.from(this.options.target);
    this.guard = await RepositoryGuard.forTarget(this.repo, this.options.target);
    // A path the snapshot does not have is refused before the target is created.
    const start = await this.findSubtree(treeId);
    if (!this.options.dryRun) await makeTarget(target);
    // Filters see the path as the snapshot has it: without `.` or `..`.
    const subpath = "/" + snapshotPathNames(this.options.subpath ?? "/").join("/");
    if (start.node && start.node.type !== "dir") {
      // A single file (or link) goes into the target directory under its own name.
      await this.restoreNode(start.node, join(target, nodeNameBytes(start.node)), subpath, true, false);
    } else {
      await this.restoreTree(start.tree, target, start.node ? subpath : "", false);
    }
    await this.writePlanned();
    for (const link of this.links) {
      this.throwIfInterrupted();
      await this.makeHardlink(link.path, link.display, link.to);
    }
    for (const item of this.dirs.reverse()) {
      this.throwIfInterrupted();
      this.setMetadata(item);
    }
    return this.result;
  }

  private throwIfInterrupted(): void {
    if (this.options.signal?.aborted) throw new InterruptedError();
  }

  /**
   * Writes the contents of the files planned so far (the writer sets each file's metadata after
   * its last write), then the metadata of the links and special files made meanwhile, and reads
   * the files back with `verify`; then plans afresh. Directories get their metadata at the very
   * end, deepest first, once nothing more is written into them.
   */
  private async writePlanned(): Promise<void> {
    await this.writeContents();
    for (const item of this.metadata) {
      this.throwIfInterrupted();
      this.setMetadata(item);
    }
    if (this.options.verify) await this.verifyFiles();
    this.plan = new RestorePlan();
    this.files = [];
    this.metadata = [];
  }

  private problem(path: string, message: string): void {
    const p = { path, message };
    this.result.problems.push(p);
    this.options.onProblem?.(p);
  }

  private async findSubtree(rootTree: Id): Promise<{ tree: Id; node?: TreeNode }> {
    const node = await findNode(this.repo, rootTree, this.options.subpath ?? "/");
    if (!node) return { tree: rootTree };
    return node.type === "dir" ? { tree: node.subtree!, node } : { tree: rootTree, node };
  }

  /** `isNew`: this restore created `dir`, so nothing stands in its entries' way. */
  private async restoreTree(treeId: Id, dir: Buffer, snapshotDir: string, isNew: boolean): Promise<void> {
    this.throwIfInterrupted();
    let nodes: TreeNode[];
    try {
      // Each tree is read once: caching would only hold memory.
      nodes = await this.repo.loadTree(treeId, { cache: false });
    } catch (err) {
      this.result.damaged.push({ path: snapshotDir || "/", message: `directory listing unreadable: ${(err as Error).message}` });
      return;
    }
    if (!this.options.dryRun) dir = await this.anchored(dir);
    const seen = new Set<string>();
    for (const node of nodes) {
      const snapshotPath = `${snapshotDir}/${node.name}`;
      const unsafe = unsafeNameReason(node);
      const key = nodeNameBytes(node).toString("latin1");
      if (unsafe || seen.has(key)) {
        this.problem(snapshotPath, unsafe ?? "duplicate name in directory, skipped");
        continue;
      }
      seen.add(key);
      await this.restoreNode(node, join(dir, nodeNameBytes(node)), snapshotPath, false, isNew);
    }
    if (this.options.delete) await this.deleteExtras(dir, snapshotDir, seen);
  }

  /** Removes entries of a restored directory that the snapshot does not have (never following links: rm works on the entry itself). */
  private async deleteExtras(dir: Buffer, snapshotDir: string, names: Set<string>): Promise<void> {
    let entries: Buffer[];
    try {
      entries = await fs.readdir(dir, { encoding: "buffer" });
    } catch (err) {
      // In a dry run the directory may not exist yet: then it holds nothing to delete.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const name of entries) {
      if (names.has(name.toString("latin1"))) continue;
      const path = join(dir, name);
      if (this.guard?.protects(path)) continue;
      const snapshotPath = `${snapshotDir}/${name.toString("utf8")}`;
      const isDir = (await fs.lstat(path)).isDirectory();
      if (!this.selection.covers(snapshotPath, isDir)) continue;
      if (!this.options.dryRun) await fs.rm(path, { recursive: true, force: true });
      this.result.deleted++;
      // The path removed from the target: the snapshot's path would read as the live source's.
      this.options.onItem?.("delete", shown(path));
    }
  }

  /** A dry run: the decisions of restoreNode, counted and reported, with nothing written. */
  private async rehearse(node: TreeNode, path: Buffer, snapshotPath: string): Promise<void> {
    if (node.type === "socket") {
      this.result.skipped++;
      return;
    }
    if (node.type !== "dir" && !(await this.shouldWrite(node, path))) {
      this.result.skipped++;
      this.options.onItem?.("skip", snapshotPath);
      return;
    }
    this.options.onItem?.("restore", snapshotPath);
    if (node.type === "dir") {
      this.result.dirs++;
      await this.restoreTree(node.subtree!, path, snapshotPath, false);
    } else if (node.type === "file") {
      this.result.files++;
      // A hard link's data is written once, as in a real restore.
      if (!this.rehearsedLinks.find(node)) {
        this.result.bytes += node.size ?? 0;
        this.rehearsedLinks.add(node, true);
      }
    } else {
      this.result.others++;
    }
  }

  private async verifyFiles(): Promise<void> {
    for (const file of this.files) {
      if (file.damaged) continue;
      const mismatch = await verifyRestoredFile(this.repo, file.path, file);
      if (mismatch) this.result.mismatches.push({ path: file.display, message: mismatch });
      else this.result.verified++;
    }
  }

  private async restoreNode(node: TreeNode, path: Buffer, snapshotPath: string, isTop: boolean, inNewDir: boolean): Promise<void> {
    if (!isTop && !(await this.selection.wants(node, snapshotPath))) {
      this.result.skipped++;
      return;
    }
    if (this.guard?.holds(path)) {
      this.problem(snapshotPath, `not restored: ${path.toString("utf8")} is the repository being read, or inside it`);
      return;
    }
    try {
      if (this.options.dryRun) return await this.rehearse(node, path, snapshotPath);
      if (node.type !== "dir" && node.type !== "file" && !(await this.shouldWrite(node, path))) {
        this.result.skipped++;
        return;
      }
      switch (node.type) {
        case "dir":
          const isNew = await this.makeDir(path);
          this.result.dirs++;
          this.dirs.push({ path, metadata: restoredMetadata(node) });
          await this.restoreTree(node.subtree!, path, snapshotPath, isNew);
          return;
        case "file": {
          const standing = inNewDir ? "nothing" : await standingAt(path);
          // Reported for this file like any other obstacle, not a failure of the whole restore.
          if (standing === "directory") throw new CairnError("a directory is in the way");
          await this.planFile(node, path, snapshotPath, standing === "other");
          return;
        }
        case "symlink":
          await this.replaceable(path);
          await fs.symlink(linkTargetBytes(node), path);
          break;
        case "fifo":
        case "chardev":
        case "blockdev":
          await this.replaceable(path);
          // Owner-only until applyMetadata sets the recorded mode.
          await makeSpecialFile(path, node.type, node.mode & 0o700, node.rdev ?? 0);
          break;
        case "socket":
          // A socket only exists while a process listens on it: there is nothing to recreate.
          this.result.skipped++;
          return;
      }
      this.result.others++;
      this.metadata.push({ path, metadata: restoredMetadata(node) });
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      this.problem(snapshotPath, (err as Error).message);
    }
  }

  /**
   * Paths longer than PATH_MAX (4096 bytes) fail in every system call, so below a deep
   * directory its entries are reached through an open descriptor, /proc/self/fd/N/name.
   * The descriptors stay open until the metadata pass at the end is done.
   */
  private async anchored(dir: Buffer): Promise<Buffer> {
    if (dir.length <= ANCHOR_AFTER) return dir;
    const handle = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
    this.anchors.push(handle);
    return Buffer.from(`/proc/self/fd/${handle.fd}`);
  }

  /** Makes a directory at `path` unless one is there; returns whether it made one. */
  private async makeDir(path: Buffer): Promise<boolean> {
    try {
      mkdirSync(path, { mode: 0o700 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // Never follow a symlink that stands where a directory should be.
      const st = await fs.lstat(path);
      if (st.isDirectory()) return false;
      await fs.rm(path, { force: true });
      await fs.mkdir(path, { mode: 0o700 });
      return true;
    }
  }

  /** Removes whatever non-directory stands at `path`, so a new link or special file can take its place. */
  private async replaceable(path: Buffer): Promise<void> {
    try {
      const st = await fs.lstat(path);
      if (st.isDirectory()) throw new CairnError("a directory is in the way");
      await fs.unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  /** `replaces`: something stands at `path`, which the file is to take the place of once it is whole. */
  private async planFile(node: TreeNode, path: Buffer, snapshotPath: string, replaces: boolean): Promise<void> {
    const file: FileTarget = { path, display: snapshotPath, size: node.size ?? 0, content: this.options.verify ? node.content : undefined, metadata: restoredMetadata(node), bytesWritten: 0, pending: 0, unqueued: 0, damaged: false };
    // The overwrite policy holds for every name of a hard-linked file; the others are linked to
    // the first name this restore writes.
    if (!(await this.shouldWrite(node, path))) {
      this.result.skipped++;
      return;
    }
    const first = this.hardlinks.find(node);
    if (first) {
      this.links.push({ path, display: snapshotPath, to: first });
      return;
    }
    this.hardlinks.add(node, file);
    this.files.push(file);
    const content = node.content ?? [];
    if (replaces && content.length > 0) {
      file.temporary = temporarySibling(path, this.temporaries++);
      // What stands there is replaced only by the whole file: with a blob missing, not at all.
      const missing = content.find((id) => !this.repo.hasBlob(id));
      if (missing !== undefined) {
        this.markDamaged(file, `blob ${missing} is missing from the repository`);
        return;
      }
    }
    let offset = 0;
    for (const id of content) {
      const location = this.repo.lookupBlob(id);
      if (!location) {
        this.markDamaged(file, `blob ${id} is missing from the repository`);
        break;
      }
      this.plan.add(id, location, { file, offset });
      file.pending++;
      offset += location.plainLength;
    }
    file.unqueued = Math.max(file.pending, 1);
    if (file.pending === 0) await this.queue().write(0, () => [this.writeInto(file, 0, () => this.options.onFileDone?.(file.display, 0))]);
    if (this.files.length >= (this.options.filesPerRound ?? FILES_PER_ROUND)) await this.writePlanned();
  }

  private async shouldWrite(node: TreeNode, path: Buffer): Promise<boolean> {
    const policy = this.options.overwrite ?? "always";
    if (policy === "always") return true;
    let st;
    try {
      st = await fs.lstat(path, { bigint: true });
    } catch {
      return true;
    }
    if (policy === "never") return false;
    if (policy === "if-newer") return st.mtimeNs < parseNanos(node.mtime);
    return !(st.isFile() && Number(st.size) === node.size && st.mtimeNs === parseNanos(node.mtime));
  }

  private markDamaged(file: FileTarget, message: string): void {
    if (!file.damaged) this.result.damaged.push({ path: file.display, message: file.temporary ? `${message}; what stood at ${shown(file.path)} is left as it was` : message });
    file.damaged = true;
  }

  private queue(): FileWriteQueue {
    this.writes ??= new FileWriteQueue();
    return this.writes;
  }

  /**
   * A write into `file` at `offset`; the first write into a file creates it at its final size,
   * the last carries its metadata. `done` hears whether the bytes were written (they are not
   * when they fail the writer's check).
   */
  private writeInto(file: FileTarget, offset: number, done: (written: boolean) => void): WriteTarget {
    const target = this.laterWriteInto(file, offset, done);
    if (!file.created) {
      file.created = true;
      target.create = file.size;
      this.result.files++;
    }
    if (--file.unqueued === 0 && !file.metadataHeld) {
      target.metadata = file.metadata;
      if (file.temporary) target.renameTo = file.path;
    }
    return target;
  }

  /**
   * Writes the planned blobs pack by pack, a few packs read at a time, and waits for the writes;
   * then writes, from other copies, the blobs that failed.
   */
  private async writeContents(): Promise<void> {
    const packs = [...this.plan.packs.entries()].sort(([a], [b]) => a.localeCompare(b));
    const corrupt: FailedBlob[] = [];
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      const reader = new RangeReader(this.repo.backend);
      try {
        while (failure === undefined && next < packs.length) {
          this.throwIfInterrupted();
          const [packId, blobs] = packs[next++]!;
          await this.restorePack(reader, packId, [...blobs.values()], corrupt);
        }
      } catch (err) {
        failure ??= err;
      }
    };
    await Promise.all(Array.from({ length: PACK_READS_IN_FLIGHT }, worker));
    // What was queued is written, or has failed, before anything else is done to these files.
    const drained = this.queue().drain();
    if (failure !== undefined) {
      await drained.catch(() => undefined);
      throw failure;
    }
    await drained;
    await this.writeOtherCopies(corrupt);
  }

  private async restorePack(reader: RangeReader, packId: Id, blobs: PlannedBlob[], corrupt: FailedBlob[]): Promise<void> {
    for (const range of readRanges(blobs, (blob) => blob.location, BULK_READ_GAP, BULK_READ_MAX)) {
      let bytes: Buffer | undefined;
      let readError = "";
      try {
        bytes = await reader.read(packKey(packId), { offset: range.offset, length: range.length });
      } catch (err) {
        if (range.items.length > 1) {
          // One unreadable part (say, a truncated pack) must not take its neighbours down with it.
          await this.restorePack(reader, packId, range.items.slice(0, 1), corrupt);
          await this.restorePack(reader, packId, range.items.slice(1), corrupt);
          continue;
        }
        readError = `pack ${packId} unreadable: ${(err as Error).message}`;
      }
      for (const blob of range.items) {
        const { offset, storedLength, compression, plainLength } = blob.location;
        const failed = (message: string) => corrupt.push({ blob, packId, message });
        if (bytes) {
          const stored = bytes.subarray(offset - range.offset, offset - range.offset + storedLength);
          try {
            // Decoded straight into the memory the writer takes; nothing unchecked is written.
            await this.queue().write(
              plainLength,
              (memory, writerChecks) => {
                decodeBlobInto(blob.id, stored, compression, plainLength, memory, !writerChecks);
                return blob.uses.map((use) =>
                  this.writeInto(use.file, use.offset, (written) => {
                    if (written) this.blobWritten(use.file, plainLength);
                  }),
                );
              },
              { id: blob.id, corrupt: failed },
            );
            continue;
          } catch (err) {
            if (!(err instanceof IntegrityError)) throw err;
            failed(err.message);
          }
        } else {
          failed(readError);
        }
        // The files are created at their size all the same; the bytes come from another copy, if
        // there is one, and the metadata after them.
        for (const use of blob.uses) use.file.metadataHeld = true;
        await this.queue().write(0, () => blob.uses.map((use) => this.writeInto(use.file, use.offset, () => undefined)));
      }
    }
  }

  /**
   * Writes the blobs that failed from copies in other packs (left by an interrupted prune), once
   * the round's other writes are done; a blob with no copy that reads leaves its files damaged.
   * Then the files get the metadata held back from them, so none looks whole before it is.
   */
  private async writeOtherCopies(corrupt: FailedBlob[]): Promise<void> {
    const affected = new Set<FileTarget>();
    for (const { blob, packId, message } of corrupt) {
      this.throwIfInterrupted();
      for (const use of blob.uses) affected.add(use.file);
      const copy = await this.repo.readOtherCopy(blob.id, packId);
      if (!copy) {
        for (const use of blob.uses) {
          this.markDamaged(use.file, message);
          this.blobWritten(use.file, 0);
        }
        continue;
      }
      await this.queue().write(copy.length, (memory) => {
        copy.copy(memory);
        return blob.uses.map((use) => this.laterWriteInto(use.file, use.offset, () => this.blobWritten(use.file, copy.length)));
      });
    }
    for (const file of affected) {
      const discard = file.damaged && file.temporary !== undefined;
      // Not restored after all: what stood there stays.
      if (discard && file.created) this.result.files--;
      const release = discard ? { discard: true } : { metadata: file.metadata, ...(file.temporary ? { renameTo: file.path } : {}) };
      // Told after every earlier write into the file (batches settle in order): its bytes are all counted by then.
      const settled = () => {
        if (discard) this.result.bytes -= file.bytesWritten;
      };
      await this.queue().write(0, () => [{ ...this.laterWriteInto(file, 0, settled), release: true, ...release }]);
    }
    await this.queue().drain();
  }

  /** A write into a file this restore has already created; a metadata problem is reported for the file. */
  private laterWriteInto(file: FileTarget, offset: number, done: (written: boolean) => void): WriteTarget {
    return {
      path: file.temporary ?? file.path,
      offset,
      done: ({ metadataProblem, written }) => {
        if (metadataProblem) this.problem(file.path.toString("utf8"), metadataProblem);
        done(written);
      },
    };
  }

  private blobWritten(file: FileTarget, bytes: number): void {
    this.result.bytes += bytes;
    file.bytesWritten += bytes;
    file.pending--;
    if (file.pending === 0) this.options.onFileDone?.(file.display, file.size);
  }

  private async makeHardlink(path: Buffer, display: string, to: FileTarget): Promise<void> {
    if (to.damaged) {
      // A damaged file replaces nothing that stands in its way (and with a temporary name its data
      // was never put in place: to.path holds what was there before, not this file).
      const standing = await standingAt(path);
      if (to.temporary || standing !== "nothing") {
        const left = standing === "nothing" ? "not restored" : `what stood at ${shown(path)} is left as it was`;
        this.result.damaged.push({ path: display, message: `a name of ${to.display}, which could not be restored; ${left}` });
        return;
      }
    }
    try {
      await this.replaceable(path);
      await fs.link(to.path, path);
      this.result.files++;
      if (to.damaged) this.result.damaged.push({ path: display, message: `a name of ${to.display}, which could not be restored whole` });
    } catch (err) {
      this.problem(path.toString("utf8"), `cannot create hard link: ${(err as Error).message}`);
    }
  }

  private setMetadata(item: MetadataTarget): void {
    try {
      applyMetadata(item.path, item.metadata);
    } catch (err) {
      this.problem(item.path.toString("utf8"), `cannot set metadata: ${(err as Error).message}`);
    }
  }
}

export async function restoreSnapshot(repo: Repository, treeId: Id, options: RestoreOptions): Promise<RestoreResult> {
  return new Restorer(repo, options).restore(treeId);
}

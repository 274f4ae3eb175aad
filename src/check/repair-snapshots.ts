import { CairnError, IntegrityError } from "../errors.js";
import { unsafeNameReason } from "../restore/safe-name.js";
import { hashBytes, shortId, type Id } from "../store/id.js";
import { listPacks } from "../store/pack/pack-list.js";
import type { Repository } from "../store/repository.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { listSnapshotIds, loadSnapshot } from "../store/snapshot/snapshot-store.js";
import { serializeTree } from "../store/tree/tree-codec.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import { blobsTheIndexDbMisses } from "./index-db-agreement.js";

export interface RepairSnapshotsOptions {
  /** Decide and report everything, write and delete nothing. */
  dryRun?: boolean;
  /** Delete each original once its repaired copy is written (and snapshots beyond repair). */
  forget?: boolean;
}

/** One change made to a snapshot's tree. */
export interface TreeRepair {
  path: string;
  action: "file-cut" | "dir-emptied" | "entry-removed";
  /** file-cut: bytes kept, of originalSize. */
  keptSize?: number;
  originalSize?: number;
  /** The first missing blob (file-cut) or the unreadable tree (dir-emptied). */
  blob?: Id;
  reason: string;
}

export interface SnapshotRepair {
  snapshot: Id;
  /** The repaired copy (absent when unrepairable; in a dry run, the id it would get is not known). */
  repaired?: Id;
  repairs: TreeRepair[];
  /** Why nothing could be kept (its root tree is unreadable). */
  unrepairable?: string;
  forgotten: boolean;
}

export interface RepairSnapshotsReport {
  snapshots: number;
  /** Only snapshots that needed repair. */
  repaired: SnapshotRepair[];
}

/** Files and their bytes in a tree and below: a repaired snapshot's size. */
interface TreeTotals {
  files: number;
  bytes: number;
}

interface TreeResult {
  id: Id;
  /** Paths relative to the tree ("/name/…"). */
  repairs: TreeRepair[];
  totals: TreeTotals;
}

/**
 * Writes a repaired copy of every snapshot that uses data the repository no longer has. A file
 * whose content has a missing blob keeps its content up to that blob and is marked with
 * `damage` (original size, first missing blob); a directory whose listing is unreadable becomes
 * empty and is marked (original subtree); entries with names a restore would refuse are
 * dropped. The copy records the snapshot it replaces in `original` and is dated 1 ms after it. Only the index and the pack
 * listing decide what is missing: run `cairn repair index` first (with --read-data to also drop
 * blobs whose bytes are damaged).
 */
export class SnapshotRepairer {
  private readonly unchanged = new Map<Id, TreeTotals>();
  private readonly changed = new Map<Id, TreeResult>();
  private packs: Map<Id, number> = new Map();
  private emptyTree: Id | undefined;
  private indexDbTrusted = false;

  constructor(
    private readonly repo: Repository,
    private readonly options: RepairSnapshotsOptions = {},
  ) {}

  async run(): Promise<RepairSnapshotsReport> {
    this.packs = (await listPacks(this.repo.backend)).packs;
    const ids = await listSnapshotIds(this.repo.backend);
    const report: RepairSnapshotsReport = { snapshots: ids.length, repaired: [] };
    const snapshots: StoredSnapshot[] = [];
    for (const id of ids) {
      try {
        snapshots.push(await loadSnapshot(this.repo.backend, id));
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        report.repaired.push(await this.unrepairable(id, `snapshot document unreadable: ${err.message}`));
      }
    }
    snapshots.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
    for (const snapshot of snapshots) {
      const repair = await this.repairSnapshot(snapshot);
      if (repair) report.repaired.push(repair);
    }
    return report;
  }

  /**
   * Before the first snapshot is found wanting: what is missing is decided by the index
   * database, a cache. One that lost entries (a damaged disk block) would have intact data cut
   * out of snapshots, and with --forget the originals deleted.
   */
  private async trustIndexDb(): Promise<void> {
    if (this.indexDbTrusted) return;
    const misses = await blobsTheIndexDbMisses(this.repo.backend, this.repo.index, this.packs);
    if (misses > 0) {
      throw new IntegrityError(`the index database misses ${misses} blobs the index files list (it is a cache, and damaged): run cairn repair index, which rebuilds it, then repair snapshots again; no snapshot was changed`);
    }
    this.indexDbTrusted = true;
  }

  private async unrepairable(id: Id, reason: string): Promise<SnapshotRepair> {
    const forget = this.options.forget === true && !this.options.dryRun;
    if (forget) await this.repo.deleteSnapshot(id);
    return { snapshot: id, repairs: [], unrepairable: reason, forgotten: this.options.forget === true };
  }

  private async repairSnapshot(snapshot: StoredSnapshot): Promise<SnapshotRepair | undefined> {
    const rootProblem = this.problem(snapshot.tree);
    let root: TreeResult;
    try {
      if (rootProblem) throw new CairnError(rootProblem);
      root = await this.repairTree(snapshot.tree);
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      await this.trustIndexDb();
      return this.unrepairable(snapshot.id, `root tree ${err.message}`);
    }
    if (root.id === snapshot.tree) return undefined;
    await this.trustIndexDb();
    const repair: SnapshotRepair = { snapshot: snapshot.id, repairs: root.repairs, forgotten: false };
    if (this.options.dryRun) return { ...repair, forgotten: this.options.forget === true };
    const { id: originalId, ...copy } = snapshot;
    // A millisecond later than the original, so `latest` picks the copy while both exist.
    const time = new Date(Date.parse(snapshot.time) + 1).toISOString();
    // The summary tells of the backup that made the original, but its totals (the size `snapshots` shows) are the copy's.
    if (copy.summary) copy.summary = { ...copy.summary, totalFilesProcessed: root.totals.files, totalBytesProcessed: root.totals.bytes };
    repair.repaired = await this.repo.saveSnapshot({ ...copy, time, tree: root.id, original: snapshot.original ?? originalId });
    if (this.options.forget) {
      await this.repo.deleteSnapshot(snapshot.id);
      repair.forgotten = true;
    }
    return repair;
  }

  /**
   * Why a blob cannot be read, or undefined: not indexed, or its pack gone or too short. Its type
   * is not asked: an id names its bytes, whichever type the copy was stored as.
   */
  private problem(id: Id): string | undefined {
    const location = this.repo.lookupBlob(id);
    if (!location) return "is not in the index";
    const size = this.packs.get(location.packId);
    if (size === undefined) return "is in a missing pack";
    if (location.offset + location.storedLength > size) return "is in a truncated pack";
    return undefined;
  }

  private async repairTree(tree: Id): Promise<TreeResult> {
    const totalsKnown = this.unchanged.get(tree);
    if (totalsKnown) return { id: tree, repairs: [], totals: totalsKnown };
    const known = this.changed.get(tree);
    if (known) return known;
    const nodes = await this.repo.loadTree(tree);
    const kept: TreeNode[] = [];
    const repairs: TreeRepair[] = [];
    const totals: TreeTotals = { files: 0, bytes: 0 };
    for (const node of nodes) {
      const path = `/${node.name}`;
      const unsafe = unsafeNameReason(node);
      if (unsafe) {
        repairs.push({ path, action: "entry-removed", reason: unsafe });
        continue;
      }
      if (node.type === "dir") {
        const dir = await this.repairDir(node, path, repairs);
        kept.push(dir.node);
        totals.files += dir.totals.files;
        totals.bytes += dir.totals.bytes;
      } else if (node.type === "file") {
        const file = this.repairFile(node, path, repairs);
        kept.push(file);
        totals.files++;
        totals.bytes += file.size ?? 0;
      } else kept.push(node);
    }
    if (repairs.length === 0) {
      this.unchanged.set(tree, totals);
      return { id: tree, repairs, totals };
    }
    const result = { id: await this.saveTree(kept), repairs, totals };
    this.changed.set(tree, result);
    return result;
  }

  private async repairDir(node: TreeNode, path: string, repairs: TreeRepair[]): Promise<{ node: TreeNode; totals: TreeTotals }> {
    const subtree = node.subtree!;
    let reason = this.problem(subtree);
    if (!reason) {
      try {
        const inner = await this.repairTree(subtree);
        for (const r of inner.repairs) repairs.push({ ...r, path: path + r.path });
        return { node: inner.id === subtree ? node : { ...node, subtree: inner.id }, totals: inner.totals };
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        reason = `is unreadable (${err.message})`;
      }
    }
    repairs.push({ path, action: "dir-emptied", blob: subtree, reason: `directory listing (tree ${shortId(subtree)}) ${reason}` });
    const emptied = { ...node, subtree: await this.empty(), damage: { ...node.damage, originalSubtree: node.damage?.originalSubtree ?? subtree } };
    return { node: emptied, totals: { files: 0, bytes: 0 } };
  }

  private repairFile(node: TreeNode, path: string, repairs: TreeRepair[]): TreeNode {
    const content = node.content ?? [];
    let keptSize = 0;
    for (let i = 0; i < content.length; i++) {
      const id = content[i]!;
      const reason = this.problem(id);
      if (reason) {
        const originalSize = node.damage?.originalSize ?? node.size ?? 0;
        repairs.push({ path, action: "file-cut", keptSize, originalSize, blob: id, reason: `content blob ${shortId(id)} ${reason}` });
        return { ...node, size: keptSize, content: content.slice(0, i), damage: { ...node.damage, originalSize, missingBlob: node.damage?.missingBlob ?? id } };
      }
      keptSize += this.repo.lookupBlob(id)!.plainLength;
    }
    return node;
  }

  private async empty(): Promise<Id> {
    this.emptyTree ??= await this.saveTree([]);
    return this.emptyTree;
  }

  private async saveTree(nodes: TreeNode[]): Promise<Id> {
    return this.options.dryRun ? hashBytes(serializeTree(nodes)) : this.repo.saveTree(nodes);
  }
}

export function repairSnapshots(repo: Repository, options: RepairSnapshotsOptions = {}): Promise<RepairSnapshotsReport> {
  return new SnapshotRepairer(repo, options).run();
}

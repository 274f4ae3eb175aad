import { CairnError, InterruptedError } from "../errors.js";
import { unsafeNameReason } from "../restore/safe-name.js";
import { shortId, type Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { listSnapshotIds, loadSnapshot } from "../store/snapshot/snapshot-store.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import type { DamagedBlobs } from "./damaged-blobs.js";
import type { FindingLog } from "./findings.js";

export interface WalkStats {
  snapshots: number;
  trees: number;
  files: number;
}

/**
 * Walks every snapshot's tree graph and reports, by snapshot and path, every directory whose
 * listing cannot be read and every file whose content cannot be: blobs missing from the index,
 * or whose every copy is known to be damaged. A subtree found whole is not walked again, so a
 * repository is walked about once however many snapshots share its trees, while damage is
 * still reported under every snapshot and path that uses it.
 */
export class DamageReporter {
  readonly stats: WalkStats = { snapshots: 0, trees: 0, files: 0 };
  private readonly wholeTrees = new Set<Id>();
  private readonly unreadableTrees = new Map<Id, string>();
  /** Packs holding further copies of a blob (normally none: see IndexDb.duplicates). */
  private readonly otherCopies = new Map<Id, Id[]>();

  constructor(
    private readonly repo: Repository,
    private readonly damaged: DamagedBlobs,
    private readonly log: FindingLog,
    private readonly signal?: AbortSignal,
  ) {}

  async run(): Promise<void> {
    for await (const [id, copy] of this.repo.index.duplicates()) this.otherCopies.set(id, [...(this.otherCopies.get(id) ?? []), copy.packId]);
    const snapshots: StoredSnapshot[] = [];
    for (const id of await listSnapshotIds(this.repo.backend)) {
      try {
        snapshots.push(await loadSnapshot(this.repo.backend, id));
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        this.log.error("snapshot-damaged", `snapshot ${shortId(id)} is unreadable: ${err.message}`, { snapshot: id });
      }
    }
    snapshots.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
    for (const snapshot of snapshots) {
      this.stats.snapshots++;
      await this.walk(snapshot.id, snapshot.tree, "");
    }
  }

  /**
   * Why a blob cannot be read, or undefined if nothing is known against it. Its type is not
   * asked: an id names its bytes, so a file holding exactly a tree's bytes shares its one copy.
   */
  private problem(id: Id): string | undefined {
    const location = this.repo.lookupBlob(id);
    if (!location) return "is not in the index";
    const reason = this.damaged.reason(id, location.packId);
    // Readers fall back to another copy (Repository.readOtherCopy): the blob is lost only with all of them.
    if (reason && this.otherCopies.get(id)?.some((pack) => this.damaged.reason(id, pack) === undefined)) return undefined;
    return reason;
  }

  private async loadTree(tree: Id): Promise<TreeNode[] | string> {
    const known = this.unreadableTrees.get(tree);
    if (known) return known;
    let reason = this.problem(tree);
    if (!reason) {
      try {
        return await this.repo.loadTree(tree);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        reason = `is unreadable (${err.message})`;
      }
    }
    this.unreadableTrees.set(tree, reason);
    return reason;
  }

  /** Returns whether anything below `tree` is damaged. */
  private async walk(snapshot: Id, tree: Id, dir: string): Promise<boolean> {
    if (this.signal?.aborted) throw new InterruptedError();
    if (this.wholeTrees.has(tree)) return false;
    const nodes = await this.loadTree(tree);
    const where = (path: string) => `${path || "/"} in snapshot ${shortId(snapshot)}`;
    if (typeof nodes === "string") {
      this.log.error("tree-damaged", `${where(dir)}: directory listing (tree ${shortId(tree)}) ${nodes}`, { snapshot, path: dir || "/", blob: tree });
      return true;
    }
    this.stats.trees++;
    let damage = false;
    for (const node of nodes) {
      const path = `${dir}/${node.name}`;
      const unsafe = unsafeNameReason(node);
      if (unsafe) {
        this.log.error("unsafe-name", `${where(dir)}: ${unsafe} (restore skips it)`, { snapshot, path: dir || "/" });
        damage = true;
        continue;
      }
      if (node.type === "dir") {
        if (await this.walk(snapshot, node.subtree!, path)) damage = true;
      } else if (node.type === "file") {
        this.stats.files++;
        if (this.checkFile(snapshot, node, path, where(path))) damage = true;
      }
    }
    if (!damage) this.wholeTrees.add(tree);
    return damage;
  }

  private checkFile(snapshot: Id, node: TreeNode, path: string, where: string): boolean {
    const content = node.content ?? [];
    let first: { id: Id; reason: string } | undefined;
    let count = 0;
    for (const id of content) {
      const reason = this.problem(id);
      if (!reason) continue;
      first ??= { id, reason };
      count++;
    }
    if (!first) return false;
    const extent = content.length > 1 ? ` (${count} of its ${content.length} content blobs are damaged)` : "";
    this.log.error("file-damaged", `${where}: content blob ${shortId(first.id)} ${first.reason}${extent}`, { snapshot, path, blob: first.id });
    return true;
  }
}

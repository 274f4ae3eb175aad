import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { StoredSnapshot } from "../store/snapshot/snapshot.js";
import { hardlinkKey } from "../store/tree/hardlink-groups.js";

/** What restoring the snapshots would write, each snapshot counted in full. */
export interface RestoreSize {
  files: number;
  dirs: number;
  others: number;
  /** Sum of file sizes; a hard-linked file counts once per snapshot. */
  bytes: number;
}

/** The distinct data the snapshots need from the repository. */
export interface RawData {
  /** Files with distinct content, and their total size. */
  uniqueFiles: number;
  uniqueFileBytes: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Plain (uncompressed) bytes of those blobs, data and tree. */
  plainBytes: number;
  dataPlainBytes: number;
  /** The same blobs as stored in packs. */
  storedBytes: number;
  /** Referenced blobs the index does not know: a damaged repository (see `cairn check`). */
  missingBlobs: number;
}

export interface SnapshotStats {
  snapshots: number;
  restoreSize: RestoreSize;
  rawData: RawData;
  /** Restore size per byte of distinct file data: 1 means no duplication, 3 means every byte is stored once for three uses. */
  deduplicationRatio: number;
  /** Plain bytes per stored byte. */
  compressionRatio: number;
  /** Restore size per stored byte: both savings together. */
  totalRatio: number;
}

/** Restore size of one tree, hard-linked files kept apart so they can be counted once per snapshot. */
interface TreeTotals {
  files: number;
  dirs: number;
  others: number;
  bytes: number;
  /** device:inode:content -> size, for files with more than one link. */
  hardlinks: Map<string, number>;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/**
 * Computes restore size, distinct data, and deduplication and compression ratios for a set of
 * snapshots in one walk. Each distinct tree is loaded once: its totals are remembered, so a
 * hundred snapshots of a mostly unchanged directory cost little more than one.
 */
export async function snapshotStats(repo: Repository, snapshots: readonly StoredSnapshot[]): Promise<SnapshotStats> {
  const totals = new Map<Id, TreeTotals>();
  const blobs = new Set<Id>();
  const contents = new Set<string>();
  const raw: RawData = { uniqueFiles: 0, uniqueFileBytes: 0, dataBlobs: 0, treeBlobs: 0, plainBytes: 0, dataPlainBytes: 0, storedBytes: 0, missingBlobs: 0 };

  const countBlob = (id: Id, type: "data" | "tree") => {
    if (blobs.has(id)) return;
    blobs.add(id);
    const location = repo.lookupBlob(id);
    if (!location) {
      raw.missingBlobs++;
      return;
    }
    if (type === "data") {
      raw.dataBlobs++;
      raw.dataPlainBytes += location.plainLength;
    } else {
      raw.treeBlobs++;
    }
    raw.plainBytes += location.plainLength;
    raw.storedBytes += location.storedLength;
  };

  const visit = async (tree: Id): Promise<TreeTotals> => {
    const known = totals.get(tree);
    if (known) return known;
    countBlob(tree, "tree");
    const t: TreeTotals = { files: 0, dirs: 0, others: 0, bytes: 0, hardlinks: new Map() };
    for (const node of await repo.loadTree(tree)) {
      if (node.type === "dir") {
        t.dirs++;
        const sub = await visit(node.subtree!);
        t.files += sub.files;
        t.dirs += sub.dirs;
        t.others += sub.others;
        t.bytes += sub.bytes;
        for (const [key, size] of sub.hardlinks) t.hardlinks.set(key, size);
      } else if (node.type === "file") {
        const size = node.size ?? 0;
        t.files++;
        const content = node.content!.join(",");
        // Names of one inode are restored as one file only where they hold the same data (see HardlinkGroups).
        const link = hardlinkKey(node);
        if (link) t.hardlinks.set(`${link}:${content}`, size);
        else t.bytes += size;
        if (!contents.has(content)) {
          contents.add(content);
          raw.uniqueFiles++;
          raw.uniqueFileBytes += size;
        }
        for (const id of node.content!) countBlob(id, "data");
      } else {
        t.others++;
      }
    }
    totals.set(tree, t);
    return t;
  };

  const restoreSize: RestoreSize = { files: 0, dirs: 0, others: 0, bytes: 0 };
  for (const snapshot of snapshots) {
    const t = await visit(snapshot.tree);
    restoreSize.files += t.files;
    restoreSize.dirs += t.dirs;
    restoreSize.others += t.others;
    restoreSize.bytes += t.bytes;
    for (const size of t.hardlinks.values()) restoreSize.bytes += size;
  }
  return {
    snapshots: snapshots.length,
    restoreSize,
    rawData: raw,
    deduplicationRatio: ratio(restoreSize.bytes, raw.dataPlainBytes),
    compressionRatio: ratio(raw.plainBytes, raw.storedBytes),
    totalRatio: ratio(restoreSize.bytes, raw.storedBytes),
  };
}

import type { ChunkerParams } from "../chunker/index.js";
import type { BlobType } from "../store/blob-type.js";
import { hashBytes, type Id } from "../store/id.js";
import type { FileReadOptions, Repository, SavedFileChunks, SaveResult, WriteStats } from "../store/repository.js";
import { serializeTree } from "../store/tree/tree-codec.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/** The part of a repository a backup writes through. */
export interface BlobSink {
  readonly config: { readonly chunker: ChunkerParams };
  readonly stats: WriteStats;
  hasBlob(id: Id): boolean;
  hasBlobs(ids: readonly Id[]): Promise<boolean[]>;
  /** Whether a tree is known to have every file blob indexed (see IndexDb.isCompleteTree). */
  isCompleteTree(id: Id): boolean;
  markCompleteTrees(ids: readonly Id[]): Promise<void>;
  saveBlob(type: BlobType, plain: Uint8Array): Promise<SaveResult>;
  /** Reads local files (on worker threads) and saves their content; see Repository.saveFiles. */
  saveFiles(paths: Uint8Array[], options?: FileReadOptions): Promise<SavedFileChunks>;
  saveTree(nodes: readonly TreeNode[]): Promise<Id>;
  loadTree(id: Id, options?: { cache?: boolean }): Promise<TreeNode[]>;
  /** A stored blob's bytes, verified (the parent snapshot's, to compare with). */
  loadBlob(id: Id): Promise<Buffer>;
  flush(): Promise<void>;
}

/**
 * For --dry-run: answers like the repository, counts what would be added, writes nothing.
 * Stored sizes are not known without compressing, so bytesAddedStored stays 0. Trees made
 * during the run are kept in memory so they can be read back.
 */
export class DryRunSink implements BlobSink {
  readonly stats: WriteStats = { blobsAdded: { data: 0, tree: 0 }, bytesAdded: 0, bytesAddedStored: 0, packsWritten: 0 };
  private readonly added = new Set<Id>();
  private readonly trees = new Map<Id, TreeNode[]>();

  constructor(private readonly repo: Repository) {}

  get config(): { readonly chunker: ChunkerParams } {
    return this.repo.config;
  }

  hasBlob(id: Id): boolean {
    return this.added.has(id) || this.repo.hasBlob(id);
  }

  async hasBlobs(ids: readonly Id[]): Promise<boolean[]> {
    const stored = await this.repo.hasBlobs(ids);
    return ids.map((id, i) => stored[i]! || this.added.has(id));
  }

  isCompleteTree(id: Id): boolean {
    return this.repo.isCompleteTree(id);
  }

  /** A dry run leaves even the index database as it was. */
  async markCompleteTrees(): Promise<void> {}

  async saveBlob(type: BlobType, plain: Uint8Array): Promise<SaveResult> {
    const id = hashBytes(plain);
    if (this.hasBlob(id)) return { id, added: false };
    this.count(type, id, plain.length);
    return { id, added: true };
  }

  private count(type: BlobType, id: Id, length: number): void {
    this.added.add(id);
    this.stats.blobsAdded[type]++;
    this.stats.bytesAdded += length;
  }

  saveFiles(paths: Uint8Array[], options?: FileReadOptions): Promise<SavedFileChunks> {
    const want = (id: Id, length: number) => {
      if (!this.hasBlob(id)) this.count("data", id, length);
      return false;
    };
    return this.repo.chunkFiles(paths, want, options);
  }

  async saveTree(nodes: readonly TreeNode[]): Promise<Id> {
    const { id, added } = await this.saveBlob("tree", serializeTree(nodes));
    if (added) this.trees.set(id, [...nodes]);
    return id;
  }

  async loadTree(id: Id, options?: { cache?: boolean }): Promise<TreeNode[]> {
    return this.trees.get(id) ?? this.repo.loadTree(id, options);
  }

  loadBlob(id: Id): Promise<Buffer> {
    return this.repo.loadBlob(id);
  }

  async flush(): Promise<void> {}
}

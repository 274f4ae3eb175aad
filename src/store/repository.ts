import { randomBytes } from "node:crypto";
import * as os from "node:os";
import pLimit from "p-limit";
import { AlreadyExistsError, CairnError, InterruptedError, NotFoundError, RepositoryNotFoundError } from "../errors.js";
import { DEFAULT_CHUNKER_PARAMS, validateChunkerParams, type ChunkerParams } from "../chunker/index.js";
import type { Backend } from "./backend/backend.js";
import { storeNamedByHash } from "./backend/store-named-by-hash.js";
import { decodeBlob, type EncodedBlob } from "./blob-codec.js";
import type { BlobType } from "./blob-type.js";
import { EncoderPool, type HashedBlob } from "./compression/encoder-pool.js";
import type { ChunkedFile } from "./compression/file-chunking.js";
import {
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_PACK_SIZE,
  REPOSITORY_VERSION,
  parseConfig,
  serializeConfig,
  validateCompressionLevel,
  validatePackSize,
  type RepositoryConfig,
} from "./config.js";
import { hashBytes, type Id } from "./id.js";
import type { BlobLocation } from "./index/blob-location.js";
import { IndexDb, type IndexDbOpenOptions } from "./index/index-db.js";
import type { IndexedPack } from "./index/index-file.js";
import { syncIndexDb } from "./index/index-sync.js";
import { writeIndexFile } from "./index/index-writer.js";
import { adoptOrphanPacks } from "./index/orphan-packs.js";
import { PackBlockCache } from "./pack/pack-block-cache.js";
import { PackBuilder } from "./pack/pack-builder.js";
import { packKey } from "./pack/pack-format.js";
import type { Snapshot, StoredSnapshot } from "./snapshot/snapshot.js";
import { listSnapshots, loadSnapshot, unreadableSnapshotWarning, writeSnapshot } from "./snapshot/snapshot-store.js";
import { parseTree, serializeTree } from "./tree/tree-codec.js";
import type { TreeNode } from "./tree/tree-node.js";

export interface InitOptions {
  chunker?: ChunkerParams;
  compressionLevel?: number;
  packSize?: number;
}

export interface OpenOptions extends IndexDbOpenOptions {
  /** Directory of the derived LevelDB index. */
  indexDbPath: string;
  /** Told what the repository did on its own (e.g. indexing packs an interrupted backup left). */
  onInfo?: (message: string) => void;
  /** Told about damage met on the way that does not stop the command (e.g. an unreadable index file). */
  onWarning?: (message: string) => void;
}

/** What opening did to the index database, and the index files it had to skip. */
export interface IndexStatus {
  sync: "current" | "updated" | "rebuilt";
  damagedIndexFiles: { id: Id; message: string }[];
}

/** Counters of what this process added to the repository. */
export interface WriteStats {
  blobsAdded: Record<BlobType, number>;
  bytesAdded: number;
  bytesAddedStored: number;
  packsWritten: number;
}

export interface FileReadOptions {
  /** Told the bytes of each batch of chunks read. */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/** The chunk ids of a saveFiles job, in order, and each file's share of them. */
export interface SavedFileChunks {
  ids: Id[];
  files: ChunkedFile[];
}

export interface SaveResult {
  id: Id;
  /** False when the repository already had this blob. */
  added: boolean;
}

/** Packs written but not yet in an index file are indexed once there are this many. */
const INDEX_FLUSH_PACKS = 8;
/** Blobs being hashed at once, across every stream of a backup: bounds the bytes held by workers. */
const MAX_HASHES = 4;
/** Blobs being compressed at once: enough to keep every worker busy. */
const MAX_ENCODES = 4;
/** Pack uploads allowed in flight before saveBlob waits. */
const MAX_UPLOADS = 1;
/**
 * Packs written at once. A batch of chunks read from files can fill several small packs at
 * once; the ones past this wait their turn in memory, so a full disk finds few half-written.
 */
const MAX_PACK_WRITES = MAX_UPLOADS + 1;
const TREE_CACHE_SIZE = 4096;

/**
 * A repository: the config, blobs in packs, the index, trees and snapshots, over a backend.
 * Writes are asynchronous and bounded: `saveBlob` queues work and returns once it is accepted;
 * `flush` makes everything saved so far durable and indexed. Errors from background work are
 * rethrown by the next saveBlob or flush.
 */
export class Repository {
  readonly stats: WriteStats = { blobsAdded: { data: 0, tree: 0 }, bytesAdded: 0, bytesAddedStored: 0, packsWritten: 0 };
  /** Index files written in this session, in order (one may bear an older one's name: same packs, same bytes). */
  readonly indexFilesWritten: Id[] = [];
  /** Blobs accepted in this session but not yet in the index database. */
  private readonly unindexed = new Set<Id>();
  private readonly builders: Record<BlobType, PackBuilder>;
  /** Buffers of packs written, for the next packs to be built in. */
  private readonly packMemory: Buffer[] = [];
  private readonly encodes = new Set<Promise<void>>();
  private readonly hashes = new Set<Promise<void>>();
  private readonly uploads = new Set<Promise<void>>();
  private readonly packWrites = pLimit(MAX_PACK_WRITES);
  private packsToIndex: IndexedPack[] = [];
  private indexing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private encoder: EncoderPool | undefined;
  private readonly treeCache = new Map<Id, TreeNode[]>();
  private readonly treesLoading = new Map<Id, Promise<TreeNode[]>>();
  private readonly treeBlocks: PackBlockCache;
  private writing: Promise<void> | undefined;
  private writingStarted = false;
  private marking: Promise<void> | undefined;

  private constructor(
    readonly backend: Backend,
    readonly config: RepositoryConfig,
    readonly index: IndexDb,
    readonly indexStatus: IndexStatus,
    private readonly onInfo: (message: string) => void,
    private readonly onWarning: (message: string) => void,
  ) {
    this.builders = { data: this.newPackBuilder("data"), tree: this.newPackBuilder("tree") };
    this.treeBlocks = new PackBlockCache(backend, (packId) => index.packSummary(packId)?.size);
  }

  static async init(backend: Backend, options: InitOptions = {}): Promise<RepositoryConfig> {
    const config = Repository.newConfig(options);
    try {
      await backend.put("config", serializeConfig(config));
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw new AlreadyExistsError(`a repository already exists at ${backend.location}`);
      throw err;
    }
    return config;
  }

  /** A new repository's config, its settings checked (a UsageError names a bad one). */
  static newConfig(options: InitOptions = {}): RepositoryConfig {
    return {
      version: REPOSITORY_VERSION,
      id: randomBytes(32).toString("hex"),
      created: new Date().toISOString(),
      chunker: validateChunkerParams(options.chunker ?? DEFAULT_CHUNKER_PARAMS),
      compression: { algorithm: "zstd", level: validateCompressionLevel(options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL) },
      packSize: validatePackSize(options.packSize ?? DEFAULT_PACK_SIZE),
    };
  }

  static async readConfig(backend: Backend): Promise<RepositoryConfig> {
    let bytes: Buffer;
    try {
      bytes = await backend.get("config");
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new RepositoryNotFoundError(`${backend.location} is not a cairn repository (no config); create one with: cairn init`);
      }
      throw err;
    }
    return parseConfig(backend.location, bytes);
  }

  /** Opens the repository and brings the index database up to date with `index/`. */
  static async open(backend: Backend, options: OpenOptions): Promise<Repository> {
    const config = await Repository.readConfig(backend);
    const index = await IndexDb.open(options.indexDbPath, options);
    const status: IndexStatus = { sync: "current", damagedIndexFiles: [] };
    try {
      status.sync = await syncIndexDb(index, backend, (id, err) => {
        status.damagedIndexFiles.push({ id, message: err.message });
        options.onWarning?.(`${err.message}: its packs are treated as unindexed; run cairn check, then cairn repair index`);
      });
    } catch (err) {
      await index.close();
      throw err;
    }
    return new Repository(backend, config, index, status, options.onInfo ?? (() => undefined), options.onWarning ?? (() => undefined));
  }

  /**
   * Prepares for writing, once, before the first blob is stored. A writer marks the index
   * database before its first pack and clears the mark when it closes with every pack indexed,
   * so a mark found here means the last writer was killed: the packs it wrote but had not
   * indexed yet are adopted first, so this session reuses their blobs instead of storing them
   * again. Only one process holds the database at a time, so no live writer can own such packs.
   */
  beginWriting(): Promise<void> {
    this.writing ??= (async () => {
      const previous = this.index.writerMarker();
      if (previous) {
        const result = await adoptOrphanPacks(this.backend, this.index);
        const blobs = result.adopted.reduce((n, p) => n + p.entries.length, 0);
        if (result.adopted.length > 0) {
          this.onInfo(`indexed ${result.adopted.length} pack(s) (${blobs} blobs) left by an interrupted ${previous.hostname === os.hostname() ? `process ${previous.pid}` : `writer on ${previous.hostname}`} since ${previous.since}`);
        }
        for (const u of result.unreadable) this.onInfo(`left unindexed: ${u.message} (see cairn check)`);
        await this.index.clearWriterMarker();
      }
      this.writingStarted = true;
    })();
    return this.writing;
  }

  /** Sets this writer's mark (see beginWriting), once, before its first pack is stored. */
  private markWriting(): Promise<void> {
    this.marking ??= this.index.setWriterMarker({ pid: process.pid, hostname: os.hostname(), since: new Date().toISOString() });
    return this.marking;
  }

  // ---- blobs -------------------------------------------------------------------------------

  hasBlob(id: Id): boolean {
    return this.unindexed.has(id) || this.index.lookup(id) !== undefined;
  }

  /** hasBlob for many ids at once, without holding up the caller's thread. */
  async hasBlobs(ids: readonly Id[]): Promise<boolean[]> {
    const indexed = await this.index.hasMany(ids);
    return ids.map((id, i) => indexed[i]! || this.unindexed.has(id));
  }

  /** See IndexDb.isCompleteTree. */
  isCompleteTree(id: Id): boolean {
    return this.index.isCompleteTree(id);
  }

  /** See IndexDb.markCompleteTrees. */
  markCompleteTrees(ids: readonly Id[]): Promise<void> {
    return this.index.markCompleteTrees(ids);
  }

  lookupBlob(id: Id): BlobLocation | undefined {
    return this.index.lookup(id);
  }

  /**
   * Queues a blob for storage unless the repository already has it. Returns once the blob is
   * accepted (waiting while too much work is in flight); it is durable after `flush`.
   * `evenIfIndexed`: store it even if the index lists it, as the salvage of a pack being
   * replaced does (once per session all the same).
   */
  async saveBlob(type: BlobType, plain: Uint8Array, knownId?: Id, options: { evenIfIndexed?: boolean } = {}): Promise<SaveResult> {
    this.throwIfFailed();
    if (!this.writingStarted) await this.beginWriting();
    const encoder = this.encoderPool();
    // Data chunks own their buffers: they move to a worker to be hashed, and stay there to be
    // compressed if the repository needs them. The caller must not touch `plain` afterwards.
    while (this.hashes.size >= MAX_HASHES) await Promise.race(this.hashes);
    // A tree is hashed here: the directory walk waits for its id, and a worker round trip
    // costs more than hashing a listing of a few KiB.
    knownId ??= type === "tree" ? hashBytes(plain) : undefined;
    const hashing = knownId ? Promise.resolve<HashedBlob>({ id: knownId, length: plain.length, plain }) : encoder.hash(plain);
    const settled = hashing.then(
      () => undefined,
      () => undefined,
    );
    this.hashes.add(settled);
    const hashed = await hashing.finally(() => this.hashes.delete(settled));
    this.throwIfFailed();
    const { id, length } = hashed;
    if (!this.wantBlob(id, options.evenIfIndexed ?? false)) {
      encoder.drop(hashed);
      return { id, added: false };
    }
    while (this.encodes.size >= MAX_ENCODES) {
      await Promise.race(this.encodes);
      this.throwIfFailed();
    }
    await this.writable();
    const job = encoder
      .encode(hashed)
      .then((encoded) => this.storeEncoded(type, id, length, encoded))
      .catch((err: Error) => this.fail(err))
      .finally(() => this.encodes.delete(job));
    this.encodes.add(job);
    return { id, added: true };
  }

  /**
   * Stores a blob as another repository stored it (`encoded`, which the caller has checked
   * against `id`), unless this one has it; returns whether it was added. Copying between
   * repositories then moves the compressed bytes without compressing them again.
   */
  async saveStoredBlob(type: BlobType, id: Id, plainLength: number, encoded: EncodedBlob): Promise<boolean> {
    this.throwIfFailed();
    if (!this.writingStarted) await this.beginWriting();
    if (!this.wantBlob(id, false)) return false;
    await this.writable();
    this.storeEncoded(type, id, plainLength, encoded);
    return true;
  }

  /**
   * Reads local files on the worker threads and stores the chunks the repository lacks (see
   * EncoderPool.chunkFiles). A failure to store fails the repository as saveBlob does.
   */
  async saveFiles(paths: Uint8Array[], options: FileReadOptions = {}): Promise<SavedFileChunks> {
    this.throwIfFailed();
    if (!this.writingStarted) await this.beginWriting();
    return this.chunkFiles(paths, (id) => this.wantBlob(id, false), options);
  }

  /** saveFiles, storing only the chunks `want` picks (a dry run picks none). */
  async chunkFiles(paths: Uint8Array[], want: (id: Id, length: number) => boolean, options: FileReadOptions = {}): Promise<SavedFileChunks> {
    const ids: Id[] = [];
    const files = await this.encoderPool().chunkFiles(paths, this.config.chunker, {
      decide: async (batch, lengths) => {
        // Checked between batches: a large file stops being read soon after an interruption.
        if (options.signal?.aborted) throw new InterruptedError();
        this.throwIfFailed();
        await this.writable();
        ids.push(...batch);
        options.onBytes?.(lengths.reduce((sum, n) => sum + n, 0));
        return batch.map((id, i) => want(id, lengths[i]!));
      },
      store: (id, length, encoded) => this.storeEncoded("data", id, length, encoded),
    });
    this.throwIfFailed();
    return { ids, files };
  }

  /** Whether a blob must be stored; if so it counts as present from now on (one copy per session). */
  private wantBlob(id: Id, evenIfIndexed: boolean): boolean {
    if (evenIfIndexed ? this.unindexed.has(id) : this.hasBlob(id)) return false;
    this.unindexed.add(id);
    return true;
  }

  /**
   * Waits while the pack uploads in flight are at their limit and the next pack is already half
   * full: the packs held in memory stay bounded, and the next pack fills while one is written
   * (waiting out every upload stalled the workers for each pack's write and fsync).
   */
  private async writable(): Promise<void> {
    const half = this.config.packSize / 2;
    while (this.uploads.size >= MAX_UPLOADS && Math.max(this.builders.data.byteLength, this.builders.tree.byteLength) >= half) {
      await Promise.race(this.uploads);
      this.throwIfFailed();
    }
  }

  private storeEncoded(type: BlobType, id: Id, length: number, encoded: EncodedBlob): void {
    this.stats.blobsAdded[type]++;
    this.stats.bytesAdded += length;
    this.stats.bytesAddedStored += encoded.stored.length;
    const builder = this.builders[type];
    builder.add(id, length, encoded);
    if (builder.byteLength >= this.config.packSize) this.startUpload(type);
  }

  private encoderPool(): EncoderPool {
    this.encoder ??= new EncoderPool(this.config.compression.level);
    return this.encoder;
  }

  private startUpload(type: BlobType): void {
    const builder = this.builders[type];
    if (builder.blobCount === 0) return;
    this.builders[type] = this.newPackBuilder(type);
    const pack = builder.finish();
    const upload = this.markWriting()
      .then(() =>
        this.packWrites(() => {
          this.throwIfFailed();
          return storeNamedByHash(this.backend, packKey(pack.id), pack.id, pack.bytes);
        }),
      )
      .then(() => {
        this.stats.packsWritten++;
        this.packsToIndex.push({ id: pack.id, type, size: pack.bytes.length, entries: pack.entries });
        if (this.packsToIndex.length >= INDEX_FLUSH_PACKS) this.queueIndexWrite();
      })
      .catch((err: Error) => this.fail(err))
      .finally(() => {
        this.uploads.delete(upload);
        if (this.packMemory.length < MAX_UPLOADS + 1) this.packMemory.push(pack.memory);
      });
    this.uploads.add(upload);
  }

  /** A builder for the next pack of `type`, in the memory of one already written when there is one. */
  private newPackBuilder(type: BlobType): PackBuilder {
    // Room for the last blob past the pack size, and the trailer.
    return new PackBuilder(type, { memory: this.packMemory.pop(), expectedSize: this.config.packSize + 2 * 1024 * 1024 });
  }

  /** Writes an index file for the packs uploaded so far; chained so index files never race. */
  private queueIndexWrite(): Promise<void> {
    const packs = this.packsToIndex;
    this.packsToIndex = [];
    if (packs.length === 0) return this.indexing;
    this.indexing = this.indexing.then(async () => {
      if (this.failure) return;
      try {
        this.indexFilesWritten.push(await writeIndexFile(this.backend, this.index, packs));
        for (const pack of packs) for (const entry of pack.entries) this.unindexed.delete(entry.id);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    return this.indexing;
  }

  /** Makes every blob saved so far durable: packs written, index file written and ingested. */
  async flush(): Promise<void> {
    while (this.encodes.size > 0) await Promise.all([...this.encodes]);
    this.throwIfFailed();
    this.startUpload("data");
    this.startUpload("tree");
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    this.throwIfFailed();
    await this.queueIndexWrite();
    this.throwIfFailed();
  }

  private fail(err: Error): void {
    this.failure ??= err;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** A blob's bytes, verified; from another copy when the one the index names cannot be read. */
  async loadBlob(id: Id): Promise<Buffer> {
    const location = this.index.lookup(id);
    if (!location) throw new NotFoundError(`blob ${id} is not in the index`);
    try {
      return await this.readBlobAt(id, location);
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      const copy = await this.readOtherCopy(id, location.packId);
      if (copy) return copy;
      throw err;
    }
  }

  /**
   * A blob's bytes from a copy outside `packId`, verified, or undefined when there is none that
   * reads. Copies beyond the one the index names exist after an interrupted prune: one of them
   * can serve when the other is damaged.
   */
  async readOtherCopy(id: Id, packId: Id): Promise<Buffer | undefined> {
    const primary = this.index.lookup(id);
    const copies = [...(primary ? [primary] : []), ...(await this.index.copiesOf(id))].filter((copy) => copy.packId !== packId);
    for (const copy of copies) {
      try {
        return await this.readBlobAt(id, copy);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
      }
    }
    return undefined;
  }

  async readBlobAt(id: Id, location: BlobLocation): Promise<Buffer> {
    const range = { offset: location.offset, length: location.storedLength };
    const stored = location.type === "tree" ? await this.treeBlocks.read(location.packId, range.offset, range.length) : await this.backend.get(packKey(location.packId), range);
    return decodeBlob(id, stored, location.compression, location.plainLength);
  }

  // ---- trees -------------------------------------------------------------------------------

  async saveTree(nodes: readonly TreeNode[]): Promise<Id> {
    return (await this.saveBlob("tree", serializeTree(nodes))).id;
  }

  /**
   * A tree, from the cache or the repository; concurrent loads of one tree share a read (callers
   * may prefetch). `cache: false` for a walk that reads each tree once (a backup's parent trees):
   * keeping them would only hold memory.
   */
  loadTree(id: Id, options: { cache?: boolean } = {}): Promise<TreeNode[]> {
    const cached = this.treeCache.get(id);
    if (cached) return Promise.resolve(cached);
    let loading = this.treesLoading.get(id);
    if (!loading) {
      loading = this.readTree(id, options.cache ?? true).finally(() => this.treesLoading.delete(id));
      this.treesLoading.set(id, loading);
    }
    return loading;
  }

  private async readTree(id: Id, cache: boolean): Promise<TreeNode[]> {
    // Whatever type its copy was stored as: a file holding exactly a tree's bytes shares its id.
    const nodes = parseTree(id, await this.loadBlob(id));
    if (!cache) return nodes;
    if (this.treeCache.size >= TREE_CACHE_SIZE) this.treeCache.delete(this.treeCache.keys().next().value as Id);
    this.treeCache.set(id, nodes);
    return nodes;
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** Writes a snapshot. Everything it references is flushed first: the snapshot is the last write. */
  async saveSnapshot(snapshot: Snapshot): Promise<Id> {
    await this.flush();
    return writeSnapshot(this.backend, snapshot);
  }

  async loadSnapshot(id: Id): Promise<StoredSnapshot> {
    return loadSnapshot(this.backend, id);
  }

  /**
   * All snapshots, oldest first. An unreadable document is left out with a warning (see
   * listSnapshots); with `strict`, it fails the listing, for work that must see every snapshot.
   */
  async listSnapshots(options: { strict?: boolean } = {}): Promise<StoredSnapshot[]> {
    return listSnapshots(this.backend, options.strict ? undefined : (id, err) => this.onWarning(unreadableSnapshotWarning(id, err)));
  }

  async deleteSnapshot(id: Id): Promise<void> {
    await this.backend.delete(`snapshots/${id}`);
  }

  /** Waits for background work, then releases the index database and worker threads. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.encodes, ...this.uploads, this.indexing]);
    await this.encoder?.close();
    // Every pack written is in an index file: the next writer has nothing to adopt.
    if (this.marking && !this.failure && this.packsToIndex.length === 0) await this.index.clearWriterMarker();
    await this.index.close();
  }
}

import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Level } from "level";
import type { Id } from "../store/id.js";

/** Scratch directories are named with this prefix next to the index database. */
const SCRATCH_PREFIX = ".prune-scratch-";
/** Ids held in memory before they are written to LevelDB in one batch. */
const BATCH_IDS = 16_384;
const EMPTY = new Uint8Array(0);

/**
 * A set of blob ids kept on disk in a temporary LevelDB, so that finding the blobs in use needs
 * memory bounded by LevelDB's caches, not by the number of blobs in the repository. Keys are the
 * 32 raw id bytes; their byte order is the order of the hex ids, which lets `ids()` be merged
 * with the index database's sorted blob keys.
 */
export class BlobIdSet {
  private pending = new Set<Id>();
  private count = 0;

  private constructor(
    private readonly db: Level<Uint8Array, Uint8Array>,
    readonly location: string,
  ) {}

  /** Creates an empty set in a new directory inside `parentDir`. */
  static async create(parentDir: string): Promise<BlobIdSet> {
    const location = path.join(parentDir, SCRATCH_PREFIX + randomBytes(6).toString("hex"));
    await fs.mkdir(parentDir, { recursive: true, mode: 0o700 });
    const db = new Level<Uint8Array, Uint8Array>(location, {
      keyEncoding: "view",
      valueEncoding: "view",
      // Small caches: the set is written once and read mostly in key order.
      cacheSize: 8 * 1024 * 1024,
      writeBufferSize: 8 * 1024 * 1024,
    });
    await db.open();
    return new BlobIdSet(db, location);
  }

  /**
   * Removes scratch directories that a killed process left in `parentDir`. Only safe while the
   * caller holds the exclusive repository lock, so no other prune can be using one.
   */
  static async removeStale(parentDir: string): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(parentDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(SCRATCH_PREFIX)) await fs.rm(path.join(parentDir, name), { recursive: true, force: true });
    }
  }

  /** Number of distinct ids added. */
  get size(): number {
    return this.count;
  }

  has(id: Id): boolean {
    return this.pending.has(id) || this.db.getSync(Buffer.from(id, "hex")) !== undefined;
  }

  /** Adds an id; returns false when it was already present. */
  async add(id: Id): Promise<boolean> {
    if (this.has(id)) return false;
    this.pending.add(id);
    this.count++;
    if (this.pending.size >= BATCH_IDS) await this.flush();
    return true;
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.db.batch();
    for (const id of this.pending) batch.put(Buffer.from(id, "hex"), EMPTY);
    await batch.write();
    this.pending = new Set();
  }

  /** Every id in ascending order. */
  async *ids(): AsyncGenerator<Id> {
    await this.flush();
    for await (const key of this.db.keys()) yield Buffer.from(key).toString("hex");
  }

  /** Closes the database and removes its directory. */
  async destroy(): Promise<void> {
    await this.db.close();
    await fs.rm(this.location, { recursive: true, force: true });
  }
}

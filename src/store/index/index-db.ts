import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ClassicLevel } from "classic-level";
import { CairnError, ioError, LockError } from "../../errors.js";
import { blobTypeCode, blobTypeFromCode, type BlobType } from "../blob-type.js";
import { ID_BYTES, type Id } from "../id.js";
import { processCommand } from "../process-command.js";
import type { BlobIdFilter } from "./blob-id-filter.js";
import type { BlobLocation } from "./blob-location.js";
import type { IndexedPack } from "./index-file.js";

const BLOB_PREFIX = "b/";
const PACK_PREFIX = "p/";
const INDEX_FILE_PREFIX = "i/";
/** Trees whose files' blobs were all found here (see markCompleteTrees); cleared with the blobs. */
const COMPLETE_TREE_PREFIX = "t/";
/** Further copies of a blob, in packs other than the one its location names: key d/<blob id><pack id>. */
const DUPLICATE_PREFIX = "d/";
/**
 * A pack's listing: the SHA-256 of its entries as an index file gave them, then the ids of its
 * blobs, 32 bytes each (what taking the pack out must remove).
 */
const PACK_BLOBS_PREFIX = "c/";
/** First byte of an index file's record, before the ids of the packs it lists; an empty record predates them. */
const INDEX_FILE_RECORD_VERSION = 1;
const HOLDER_FILE = "cairn-holder.json";
/** How long a waiter looks for the holder's record before naming it "another process". */
const HOLDER_GRACE_MS = 1000;
/** Present while a rebuild or a removal of packs is under way: neither is atomic, so a crash part-way means a rebuild. */
const REBUILD_KEY = "rebuilding";
/** Present once an index file listed a pack differently from its recorded listing; cleared with everything else. */
const CONFLICTING_LISTINGS_KEY = "conflicting-listings";
/** Present while a process writes packs; left behind only when a writer died before indexing them all. */
const WRITER_KEY = "writer";
const LOCATION_BYTES = ID_BYTES + 2 + 12;
const DIGEST_BYTES = 32;
/** Blobs moved to their copies per write while packs are removed. */
const REMOVAL_BATCH = 1000;

export interface PackSummary {
  id: Id;
  type: BlobType;
  size: number;
  blobCount: number;
}

/** Who was writing when the writer marker was set. */
export interface WriterMarker {
  pid: number;
  hostname: string;
  since: string;
}

export interface IndexDbOpenOptions {
  /** How long to wait for another process that holds the database. */
  waitMs: number;
  /** Told once, when we start waiting, who holds the database. */
  onWait?: (message: string) => void;
  /** Start from an empty database, whatever the old one holds (even damaged files): it is rebuilt from the index files. */
  fresh?: boolean;
}

function encodeLocation(loc: BlobLocation): Buffer {
  const value = Buffer.allocUnsafe(LOCATION_BYTES);
  value.write(loc.packId, 0, ID_BYTES, "hex");
  value.writeUInt8(blobTypeCode(loc.type), ID_BYTES);
  value.writeUInt8(loc.compression, ID_BYTES + 1);
  value.writeUInt32LE(loc.offset, ID_BYTES + 2);
  value.writeUInt32LE(loc.storedLength, ID_BYTES + 6);
  value.writeUInt32LE(loc.plainLength, ID_BYTES + 10);
  return value;
}

/** What identifies a pack's listing in an index file: its type and size, and every entry. */
function listingDigest(pack: IndexedPack): Buffer {
  const entryBytes = ID_BYTES + 1 + 12;
  const bytes = Buffer.allocUnsafe(5 + pack.entries.length * entryBytes);
  bytes.writeUInt8(blobTypeCode(pack.type), 0);
  bytes.writeUInt32LE(pack.size, 1);
  pack.entries.forEach((entry, i) => {
    const at = 5 + i * entryBytes;
    bytes.write(entry.id, at, ID_BYTES, "hex");
    bytes.writeUInt8(entry.compression, at + ID_BYTES);
    bytes.writeUInt32LE(entry.offset, at + ID_BYTES + 1);
    bytes.writeUInt32LE(entry.storedLength, at + ID_BYTES + 5);
    bytes.writeUInt32LE(entry.plainLength, at + ID_BYTES + 9);
  });
  return createHash("sha256").update(bytes).digest();
}

/** The value of an index file's `i/` key: the record's version, then the ids of the packs it lists. */
function indexFileRecord(packs: readonly IndexedPack[]): Buffer {
  const record = Buffer.allocUnsafe(1 + packs.length * ID_BYTES);
  record.writeUInt8(INDEX_FILE_RECORD_VERSION, 0);
  packs.forEach((pack, i) => record.write(pack.id, 1 + i * ID_BYTES, ID_BYTES, "hex"));
  return record;
}

/** The pack ids of an `i/` value; undefined for the empty value an older cairn wrote. */
function packsOfIndexFileRecord(value: Uint8Array): Id[] | undefined {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.length === 0 || bytes[0] !== INDEX_FILE_RECORD_VERSION) return undefined;
  return Array.from({ length: (bytes.length - 1) / ID_BYTES }, (_, i) => bytes.toString("hex", 1 + i * ID_BYTES, 1 + (i + 1) * ID_BYTES));
}

/** The value of a pack's `c/` key: its listing's digest, then its blob ids. */
function listingRecord(pack: IndexedPack, digest = listingDigest(pack)): Buffer {
  const record = Buffer.allocUnsafe(DIGEST_BYTES + pack.entries.length * ID_BYTES);
  digest.copy(record, 0);
  pack.entries.forEach((entry, i) => record.write(entry.id, DIGEST_BYTES + i * ID_BYTES, ID_BYTES, "hex"));
  return record;
}

function decodeLocation(value: Uint8Array): BlobLocation {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return {
    packId: buf.toString("hex", 0, ID_BYTES),
    type: blobTypeFromCode(buf.readUInt8(ID_BYTES)) ?? "data",
    compression: buf.readUInt8(ID_BYTES + 1),
    offset: buf.readUInt32LE(ID_BYTES + 2),
    storedLength: buf.readUInt32LE(ID_BYTES + 6),
    plainLength: buf.readUInt32LE(ID_BYTES + 10),
  };
}

function isLockedError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as Error & { cause?: unknown }).cause) {
    if ((e as Error & { code?: string }).code === "LEVEL_LOCKED") return true;
  }
  return false;
}

/** A LevelDB failure (a full disk, a damaged file) as a one-line error naming the database; anything else unchanged. */
function databaseError(location: string, op: string, err: unknown, fromDatabase = false): unknown {
  if (!(err instanceof Error) || (!fromDatabase && !String((err as Error & { code?: unknown }).code ?? "").startsWith("LEVEL_"))) return err;
  let deepest: Error = err;
  while (deepest.cause instanceof Error) deepest = deepest.cause;
  const hint = /no space/i.test(deepest.message) ? "" : " (it is derived data: cairn repair index rebuilds it, or delete it and cairn rebuilds it)";
  return new CairnError(`index database ${location}: cannot ${op}: ${deepest.message}${hint}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The local LevelDB view of the repository's index files: blob id -> location, pack list,
 * and which index files it reflects. Derived data only: it may be deleted at any time.
 */
/** Suffix of a database moved aside to be removed (see IndexDb.open with `fresh`). */
const DISCARDED = ".discarded-";

/** What a run killed while removing a discarded database left. */
async function removeDiscarded(location: string): Promise<void> {
  const dir = path.dirname(location);
  const prefix = path.basename(location) + DISCARDED;
  for (const name of await fs.readdir(dir).catch(() => [])) {
    if (name.startsWith(prefix)) await fs.rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

export class IndexDb {
  private constructor(
    private readonly db: ClassicLevel<string, Uint8Array>,
    readonly location: string,
  ) {}

  static async open(location: string, options: IndexDbOpenOptions): Promise<IndexDb> {
    await fs.mkdir(path.dirname(location), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw ioError("cannot create the directory of the index database", path.dirname(location), err);
    });
    const started = Date.now();
    const deadline = started + options.waitMs;
    let told = false;
    for (;;) {
      const db = new ClassicLevel<string, Uint8Array>(location, { keyEncoding: "utf8", valueEncoding: "view" });
      let opened = true;
      try {
        await db.open();
      } catch (err) {
        // Too damaged to open, and held by no process (it would be locked): free to go too.
        if (options.fresh && !isLockedError(err)) opened = false;
        else if (!isLockedError(err)) throw databaseError(location, "open", err);
        else {
          const holder = await describeHolder(location);
          if (Date.now() >= deadline) {
            throw new LockError(`index database ${location} is in use by ${holder ?? "another process"}; retry later or pass --retry-lock`);
          }
          // The holder records itself just after opening and removes the record just before
          // closing: caught in between, look again shortly rather than say "another process".
          if (!told && (holder !== undefined || Date.now() - started >= HOLDER_GRACE_MS)) {
            options.onWait?.(`waiting for the index database, held by ${holder ?? "another process"}`);
            told = true;
          }
          await sleep(Math.min(told ? 500 : 50, Math.max(50, deadline - Date.now())));
          continue;
        }
      }
      if (options.fresh) {
        // Ours (held, or unopenable and held by none): it is moved aside in one step, so a run
        // killed while its files are removed leaves no half-deleted database behind, then goes;
        // the next open starts empty and is filled from the index files.
        if (opened) await db.close();
        const discarded = `${location}${DISCARDED}${process.pid}-${Date.now()}`;
        await fs.rename(location, discarded).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw ioError("cannot move aside", location, err);
        });
        await fs.rm(discarded, { recursive: true, force: true });
        return IndexDb.open(location, { ...options, fresh: false });
      }
      await removeDiscarded(location);
      try {
        await fs.chmod(location, 0o700);
        await fs.writeFile(
          path.join(location, HOLDER_FILE),
          JSON.stringify({ pid: process.pid, hostname: os.hostname(), command: processCommand(), since: new Date().toISOString() }),
          { mode: 0o600 },
        );
      } catch (err) {
        await db.close();
        throw new CairnError(`index database ${location}: cannot record its holder: ${(err as Error).message}`);
      }
      return new IndexDb(db, location);
    }
  }

  lookup(id: Id): BlobLocation | undefined {
    const value = this.read(BLOB_PREFIX + id);
    return value === undefined ? undefined : decodeLocation(value);
  }

  /** Where the index places a blob's copy in `packId`: its location, or one of its duplicates. */
  locationIn(id: Id, packId: Id): BlobLocation | undefined {
    const location = this.lookup(id);
    if (location?.packId === packId) return location;
    const duplicate = this.read(DUPLICATE_PREFIX + id + packId);
    return duplicate === undefined ? undefined : decodeLocation(duplicate);
  }

  /** Which of `ids` are indexed: one batched read through LevelDB's thread, not one call each. */
  async hasMany(ids: readonly Id[]): Promise<boolean[]> {
    // The same key bytes as buffers: handing LevelDB a buffer costs less than a string.
    return this.db.hasMany(
      ids.map((id) => Buffer.from(BLOB_PREFIX + id, "latin1")),
      { keyEncoding: "buffer" },
    );
  }

  /**
   * Whether a tree is marked complete: every content blob of its files was indexed when marked.
   * Synchronous: a backup asks once per directory, and one key read here costs microseconds
   * where a round trip through LevelDB's thread costs tens of them.
   */
  isCompleteTree(id: Id): boolean {
    return this.read(COMPLETE_TREE_PREFIX + id) !== undefined;
  }

  /**
   * Marks trees whose files' blobs are all indexed, so the next backup asks one key per directory
   * instead of one per blob. Blobs only leave this database by `clear`, which drops the marks too.
   */
  async markCompleteTrees(ids: readonly Id[]): Promise<void> {
    const batch = this.db.batch();
    for (const id of ids) batch.put(COMPLETE_TREE_PREFIX + id, new Uint8Array(0));
    await this.commit(batch);
  }

  /**
   * Records the packs of one index file. A blob already known keeps its first location; a copy
   * in another pack is recorded as a duplicate (see duplicates). A pack recorded already with the
   * same listing is left as it is (prune lists every pack it keeps again). One listed differently
   * (an interrupted repair index leaves a pack's old listing beside the one from its trailer)
   * keeps its first listing's record, its blobs that only this listing names are located too,
   * the database is marked as holding such packs (hasConflictingListings) and as needing a
   * rebuild, and false is returned. `recorded`, while filling a database that started without
   * blobs, holds every blob id added so far: only those it might hold are looked up (most
   * lookups are of blobs not there, and they cost most of a rebuild).
   */
  async addIndexFile(indexFileId: Id, packs: readonly IndexedPack[], recorded?: BlobIdFilter): Promise<boolean> {
    const batch = this.db.batch();
    // Locations and listings this batch adds, which getSync does not see until it is written.
    const added = new Map<Id, Id>();
    const listings = new Map<Id, Buffer>();
    const copies = new Set<string>();
    let agrees = true;
    for (const pack of packs) {
      const digest = listingDigest(pack);
      const recordedListing = listings.get(pack.id) ?? this.recordedListing(pack.id);
      if (recordedListing === undefined) {
        const summary = { type: pack.type, size: pack.size, blobCount: pack.entries.length };
        batch.put(PACK_PREFIX + pack.id, Buffer.from(JSON.stringify(summary)));
        const listing = listingRecord(pack, digest);
        batch.put(PACK_BLOBS_PREFIX + pack.id, listing);
        listings.set(pack.id, listing);
      } else if (digest.equals(recordedListing.subarray(0, DIGEST_BYTES))) {
        continue;
      } else {
        agrees = false;
        batch.put(CONFLICTING_LISTINGS_KEY, new Uint8Array(0));
        // What is held now depends on the order the listings came in; a rebuild reads them in
        // name order. Set in this batch, so that a writer, or a crash before the sync's own
        // rebuild, leaves the next sync to rebuild.
        batch.put(REBUILD_KEY, new Uint8Array(0));
      }
      for (const entry of pack.entries) {
        const known = added.get(entry.id) ?? (recorded === undefined || recorded.mightHold(entry.id) ? this.lookup(entry.id)?.packId : undefined);
        recorded?.add(entry.id);
        if (known === pack.id) continue;
        if (known === undefined) {
          added.set(entry.id, pack.id);
          batch.put(BLOB_PREFIX + entry.id, encodeLocation({ packId: pack.id, ...entry }));
          continue;
        }
        // A copy already recorded in this pack keeps its first listing's offset, as a location does.
        const copyKey = DUPLICATE_PREFIX + entry.id + pack.id;
        if (copies.has(copyKey) || this.read(copyKey) !== undefined) continue;
        copies.add(copyKey);
        batch.put(copyKey, encodeLocation({ packId: pack.id, ...entry }));
      }
    }
    batch.put(INDEX_FILE_PREFIX + indexFileId, indexFileRecord(packs));
    await this.commit(batch);
    return agrees;
  }

  /** A pack's listing record, if the pack is recorded (a listing an older cairn left behind without the pack does not count). */
  private recordedListing(id: Id): Buffer | undefined {
    const listing = this.read(PACK_BLOBS_PREFIX + id);
    return listing === undefined || !this.hasPack(id) ? undefined : Buffer.from(listing.buffer, listing.byteOffset, listing.byteLength);
  }

  /**
   * Whether some pack is listed in more than one way by the index files: taking packs out by
   * their recorded listings cannot be trusted then, and syncIndexDb rebuilds instead.
   */
  hasConflictingListings(): boolean {
    return this.read(CONFLICTING_LISTINGS_KEY) !== undefined;
  }

  /**
   * Takes packs out: their summaries, and the locations and copies of the blobs in them. A blob
   * located in one of them moves to a copy in a pack that stays, if it has one, and is forgotten
   * otherwise. The complete-tree marks go too, since the blobs they vouch for may be gone. Not
   * atomic: callers mark a rebuild pending around it (setRebuildPending). Every pack must be one
   * whose blobs are known (knowsPackBlobs).
   */
  async removePacks(gone: ReadonlySet<Id>): Promise<void> {
    if (gone.size === 0) return;
    // Copies first, so a blob whose location goes finds its copy already promoted.
    let batch = this.db.batch();
    // Moved by this batch, which lookups do not see until it is written: a blob with two copies that stay moves once.
    const moved = new Set<Id>();
    for await (const [id, copy] of this.duplicates()) {
      if (gone.has(copy.packId) || moved.has(id)) continue;
      const location = this.lookup(id);
      if (location === undefined || !gone.has(location.packId)) continue;
      batch.put(BLOB_PREFIX + id, encodeLocation(copy));
      batch.del(DUPLICATE_PREFIX + id + copy.packId);
      moved.add(id);
      if (moved.size >= REMOVAL_BATCH) {
        await this.commit(batch);
        batch = this.db.batch();
        moved.clear();
      }
    }
    await this.commit(batch);
    for (const packId of gone) {
      const ids = this.recordedListing(packId);
      if (ids === undefined) throw new CairnError(`index database ${this.location}: the blobs of pack ${packId} are not recorded`);
      const removal = this.db.batch();
      for (let at = DIGEST_BYTES; at < ids.length; at += ID_BYTES) {
        const id = ids.toString("hex", at, at + ID_BYTES);
        if (this.lookup(id)?.packId === packId) removal.del(BLOB_PREFIX + id);
        removal.del(DUPLICATE_PREFIX + id + packId);
      }
      removal.del(PACK_PREFIX + packId);
      removal.del(PACK_BLOBS_PREFIX + packId);
      await this.commit(removal);
    }
    await this.db.clear({ gte: COMPLETE_TREE_PREFIX, lt: COMPLETE_TREE_PREFIX + "~" });
  }

  /**
   * Whether the database records `pack` as an index file lists it (what taking the pack out
   * relies on); undefined when it records no listing for it (a database an older cairn wrote).
   */
  recordsListing(pack: IndexedPack): boolean | undefined {
    const recorded = this.recordedListing(pack.id);
    return recorded === undefined ? undefined : listingRecord(pack).equals(recorded);
  }

  /** Whether the database knows which blobs a pack holds (a database written before it recorded them does not). */
  knowsPackBlobs(id: Id): boolean {
    return this.recordedListing(id) !== undefined;
  }

  /** Drops index files from the ones the database reflects (their packs are removed apart, by removePacks). */
  async forgetIndexFiles(ids: readonly Id[]): Promise<void> {
    const batch = this.db.batch();
    for (const id of ids) batch.del(INDEX_FILE_PREFIX + id);
    await this.commit(batch);
  }

  hasPack(id: Id): boolean {
    return this.read(PACK_PREFIX + id) !== undefined;
  }

  packSummary(id: Id): PackSummary | undefined {
    const value = this.read(PACK_PREFIX + id);
    return value === undefined ? undefined : { id, ...(JSON.parse(Buffer.from(value).toString("utf8")) as Omit<PackSummary, "id">) };
  }

  /** The marker of a writer that has not finished cleanly, if any (see Repository). */
  writerMarker(): WriterMarker | undefined {
    const value = this.read(WRITER_KEY);
    return value === undefined ? undefined : (JSON.parse(Buffer.from(value).toString("utf8")) as WriterMarker);
  }

  /** Written synchronously to disk: it must exist before the first pack does. */
  async setWriterMarker(marker: WriterMarker): Promise<void> {
    await this.db.put(WRITER_KEY, Buffer.from(JSON.stringify(marker)), { sync: true }).catch((err: unknown) => Promise.reject(databaseError(this.location, "write", err)));
  }

  async clearWriterMarker(): Promise<void> {
    await this.db.del(WRITER_KEY, { sync: true }).catch((err: unknown) => Promise.reject(databaseError(this.location, "write", err)));
  }

  /** The index files the database reflects, each with the packs it lists (undefined where recorded before the database kept them). */
  async indexFileRecords(): Promise<Map<Id, Id[] | undefined>> {
    const records = new Map<Id, Id[] | undefined>();
    for await (const [key, value] of this.db.iterator({ gte: INDEX_FILE_PREFIX, lt: INDEX_FILE_PREFIX + "~" })) {
      records.set(key.slice(INDEX_FILE_PREFIX.length), packsOfIndexFileRecord(value));
    }
    return records;
  }

  /**
   * Compacts the blob locations into LevelDB's lower levels. A rebuild writes them faster than
   * LevelDB compacts in the background, and lookups in the tables it leaves run at half speed
   * (10 million blobs: 62,000-93,000 against 192,000 random lookups a second once compacted).
   */
  async compactBlobs(): Promise<void> {
    await this.db.compactRange(BLOB_PREFIX, BLOB_PREFIX + "~").catch((err: unknown) => Promise.reject(databaseError(this.location, "compact", err)));
  }

  /** Whether no blob is recorded (a new database, or one just cleared). */
  async holdsNoBlobs(): Promise<boolean> {
    const keys = await this.db.keys({ gte: BLOB_PREFIX, lt: BLOB_PREFIX + "~", limit: 1 }).all();
    return keys.length === 0;
  }

  async indexFiles(): Promise<Set<Id>> {
    return new Set((await this.indexFileRecords()).keys());
  }

  async *packs(): AsyncIterable<PackSummary> {
    for await (const [key, value] of this.db.iterator({ gte: PACK_PREFIX, lt: PACK_PREFIX + "~" })) {
      const meta = JSON.parse(Buffer.from(value).toString("utf8")) as Omit<PackSummary, "id">;
      yield { id: key.slice(PACK_PREFIX.length), ...meta };
    }
  }

  async *blobs(): AsyncIterable<[Id, BlobLocation]> {
    for await (const [key, value] of this.db.iterator({ gte: BLOB_PREFIX, lt: BLOB_PREFIX + "~" })) {
      yield [key.slice(BLOB_PREFIX.length), decodeLocation(value)];
    }
  }

  /**
   * The copies of blobs beyond the one each blob's location names, by blob id: normally none,
   * but an interrupted prune leaves its new packs' copies beside old packs it had not yet deleted.
   */
  async *duplicates(): AsyncIterable<[Id, BlobLocation]> {
    for await (const [key, value] of this.db.iterator({ gte: DUPLICATE_PREFIX, lt: DUPLICATE_PREFIX + "~" })) {
      yield [key.slice(DUPLICATE_PREFIX.length, DUPLICATE_PREFIX.length + 2 * ID_BYTES), decodeLocation(value)];
    }
  }

  /** A blob's further copies (see duplicates), in pack order. */
  async copiesOf(id: Id): Promise<BlobLocation[]> {
    const copies: BlobLocation[] = [];
    const prefix = DUPLICATE_PREFIX + id;
    for await (const value of this.db.values({ gte: prefix, lt: prefix + "~" })) copies.push(decodeLocation(value));
    return copies;
  }

  /** Makes the duplicate `to` a blob's location; its location until now, `from`, becomes a duplicate. */
  async relocate(id: Id, from: BlobLocation, to: BlobLocation): Promise<void> {
    const batch = this.db.batch();
    batch.put(BLOB_PREFIX + id, encodeLocation(to));
    batch.del(DUPLICATE_PREFIX + id + to.packId);
    batch.put(DUPLICATE_PREFIX + id + from.packId, encodeLocation(from));
    await this.commit(batch);
  }

  /** Empties the database for a rebuild; until finishRebuild, it stays marked as needing one. */
  async clear(): Promise<void> {
    await this.setRebuildPending();
    for (const prefix of [COMPLETE_TREE_PREFIX, INDEX_FILE_PREFIX, BLOB_PREFIX, DUPLICATE_PREFIX, PACK_PREFIX, PACK_BLOBS_PREFIX]) await this.db.clear({ gte: prefix, lt: prefix + "~" });
    await this.db.del(CONFLICTING_LISTINGS_KEY);
  }

  /** Until finishRebuild, the next sync rebuilds the database from scratch (whatever happens meanwhile). */
  async setRebuildPending(): Promise<void> {
    await this.db.put(REBUILD_KEY, new Uint8Array(0), { sync: true });
  }

  rebuildPending(): boolean {
    return this.read(REBUILD_KEY) !== undefined;
  }

  async finishRebuild(): Promise<void> {
    await this.db.del(REBUILD_KEY);
  }

  /** Writes a batch; a LevelDB failure becomes a one-line error naming the database. */
  private async commit(batch: { write(): Promise<void> }): Promise<void> {
    await batch.write().catch((err: unknown) => Promise.reject(databaseError(this.location, "write", err)));
  }

  /** A key's value; a damaged table file makes a one-line error naming the database, not a crash. */
  private read(key: string): Uint8Array | undefined {
    try {
      return this.db.getSync(key);
    } catch (err) {
      throw databaseError(this.location, "read", err, true);
    }
  }

  async close(): Promise<void> {
    await fs.rm(path.join(this.location, HOLDER_FILE), { force: true });
    await this.db.close();
    // LevelDB creates its files with the process umask; repository files are private (the CLI
    // also sets a private umask, this covers library users).
    // Gone with the repository it was in (removed under a running command): nothing to tighten.
    for (const name of await fs.readdir(this.location).catch(() => [] as string[])) await fs.chmod(path.join(this.location, name), 0o600);
  }
}

async function describeHolder(location: string): Promise<string | undefined> {
  try {
    const holder = JSON.parse(await fs.readFile(path.join(location, HOLDER_FILE), "utf8")) as {
      pid?: number;
      hostname?: string;
      command?: string;
      since?: string;
    };
    return `process ${holder.pid} on ${holder.hostname} (cairn${holder.command ? ` ${holder.command}` : ""}, since ${holder.since})`;
  } catch {
    return undefined;
  }
}

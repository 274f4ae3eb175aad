import { IntegrityError, NotFoundError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import type { BlobType } from "../store/blob-type.js";
import { shortId, type Id } from "../store/id.js";
import type { IndexDb } from "../store/index/index-db.js";
import type { IndexedPack } from "../store/index/index-file.js";
import { listIndexFiles, readIndexFile } from "../store/index/index-sync.js";
import { PACK_FOOTER_BYTES, TRAILER_ENTRY_BYTES, type PackEntry } from "../store/pack/pack-format.js";
import type { PackListing } from "../store/pack/pack-list.js";
import { readPackEntries } from "../store/pack/pack-reader.js";
import { forEachLimit } from "./concurrency.js";
import type { DamagedBlobs } from "./damaged-blobs.js";
import type { FindingLog } from "./findings.js";

/** A pack as the index files describe it. */
export interface IndexedPackInfo {
  type: BlobType;
  size: number;
  blobCount: number;
  indexFile: Id;
}

const TRAILER_READS_IN_FLIGHT = 8;

function entriesEqual(a: PackEntry, b: PackEntry): boolean {
  return a.id === b.id && a.type === b.type && a.offset === b.offset && a.storedLength === b.storedLength && a.plainLength === b.plainLength && a.compression === b.compression;
}

/**
 * The structural half of check for everything below snapshots: every index file is readable;
 * the packs they list tile exactly, exist with the indexed size and carry a trailer that says
 * the same; the index database holds exactly what the index files say; packs no index lists
 * are warned about. Blobs that cannot be read because their pack is missing or cut short are
 * recorded in `damaged`. Memory stays at one index file plus one entry per pack.
 */
export class IndexChecker {
  readonly packs = new Map<Id, IndexedPackInfo>();
  readonly indexFiles: Id[] = [];
  /** Index entries whose blob the database locates exactly there (one per distinct blob). */
  private located = 0;

  constructor(
    private readonly backend: Backend,
    private readonly db: IndexDb,
    private readonly listing: PackListing,
    private readonly log: FindingLog,
    private readonly damaged: DamagedBlobs,
  ) {}

  async run(): Promise<void> {
    for (const file of await listIndexFiles(this.backend)) {
      let packs: IndexedPack[];
      try {
        packs = (await readIndexFile(this.backend, file)).packs;
      } catch (err) {
        if (!(err instanceof IntegrityError)) throw err;
        this.log.error("index-file-damaged", `index file ${shortId(file)} is damaged: ${err.message}`, { indexFile: file });
        continue;
      }
      this.indexFiles.push(file);
      const listed = packs.map((pack) => ({ pack, seen: this.record(pack, file) }));
      const fresh = listed.filter((l) => l.seen === "new").map((l) => l.pack);
      for (const pack of fresh) this.checkAgainstDatabase(pack);
      await forEachLimit(fresh, TRAILER_READS_IN_FLIGHT, (pack) => this.checkOnDisk(pack));
      const again = listed.filter((l) => l.seen === "again").map((l) => l.pack);
      await forEachLimit(again, TRAILER_READS_IN_FLIGHT, (pack) => this.checkListedAgain(pack, file));
    }
    await this.checkDatabase();
    for (const [id, size] of this.listing.packs) {
      if (this.packs.has(id)) continue;
      this.log.warning("pack-unindexed", `pack ${shortId(id)} (${size} bytes) is in no index: left by an interrupted backup (the next backup indexes it) or its index file was lost (cairn repair index)`, { pack: id });
    }
    for (const key of this.listing.strays) this.log.warning("stray-object", `${key} is not a pack`, { key });
  }

  /**
   * Notes a pack and checks its layout. "again" when another index file listed it already (the
   * same pack twice is harmless, if both say the same), "conflict" when they disagree on its size.
   */
  private record(pack: IndexedPack, file: Id): "new" | "again" | "conflict" {
    const known = this.packs.get(pack.id);
    if (known && (known.type !== pack.type || known.size !== pack.size || known.blobCount !== pack.entries.length)) {
      this.log.error("index-conflict", `pack ${shortId(pack.id)} is described differently by index files ${shortId(known.indexFile)} and ${shortId(file)}`, { pack: pack.id, indexFile: file });
      return "conflict";
    }
    if (!known) this.packs.set(pack.id, { type: pack.type, size: pack.size, blobCount: pack.entries.length, indexFile: file });
    let offset = 0;
    for (const entry of pack.entries) {
      if (entry.offset !== offset) break;
      offset += entry.storedLength;
    }
    if (offset + pack.entries.length * TRAILER_ENTRY_BYTES + PACK_FOOTER_BYTES !== pack.size) {
      this.log.error("index-layout", `index file ${shortId(file)} describes pack ${shortId(pack.id)} with blobs that do not fill it back to back`, { pack: pack.id, indexFile: file });
    }
    return known ? "again" : "new";
  }

  /**
   * A pack another index file listed first: its entries here must match the trailer too, or
   * they lie in wait for the day the first file is rewritten (the pack's own damage, missing or
   * cut short, is reported with the first listing).
   */
  private async checkListedAgain(pack: IndexedPack, file: Id): Promise<void> {
    if (this.listing.packs.get(pack.id) !== pack.size) return;
    let trailer: PackEntry[];
    try {
      trailer = await readPackEntries(this.backend, pack.id, pack.size);
    } catch (err) {
      if (!(err instanceof IntegrityError) && !(err instanceof NotFoundError)) throw err;
      return;
    }
    const firstDifference = trailer.findIndex((entry, i) => !entriesEqual(entry, pack.entries[i]!));
    if (firstDifference !== -1) {
      this.log.error("index-conflict", `index file ${shortId(file)} describes pack ${shortId(pack.id)} differently from its trailer (blob ${firstDifference} differs)`, { pack: pack.id, indexFile: file });
    }
  }

  private checkAgainstDatabase(pack: IndexedPack): void {
    let absent = 0;
    let different = 0;
    for (const entry of pack.entries) {
      const location = this.db.lookup(entry.id);
      if (!location) absent++;
      else if (location.packId === pack.id && location.offset === entry.offset) {
        this.located++;
        if (location.type !== entry.type || location.storedLength !== entry.storedLength || location.plainLength !== entry.plainLength || location.compression !== entry.compression) different++;
      }
    }
    const summary = this.db.packSummary(pack.id);
    if (!summary || summary.type !== pack.type || summary.size !== pack.size || summary.blobCount !== pack.entries.length) {
      this.log.error("index-db-mismatch", `the index database ${summary ? "describes pack " + shortId(pack.id) + " differently" : "lacks pack " + shortId(pack.id)} (cairn repair index rebuilds it)`, { pack: pack.id });
    }
    if (this.db.recordsListing(pack) === false) {
      this.log.error("index-db-mismatch", `the index database records the blobs of pack ${shortId(pack.id)} differently (cairn repair index rebuilds it)`, { pack: pack.id });
    }
    if (absent > 0 || different > 0) {
      this.log.error("index-db-mismatch", `the index database lacks ${absent} and misdescribes ${different} of the ${pack.entries.length} blobs of pack ${shortId(pack.id)} (cairn repair index rebuilds it)`, { pack: pack.id });
    }
  }

  private async checkOnDisk(pack: IndexedPack): Promise<void> {
    const actual = this.listing.packs.get(pack.id);
    if (actual === undefined) {
      this.log.error("pack-missing", `pack ${shortId(pack.id)} is missing (${pack.entries.length} ${pack.type} blobs)`, { pack: pack.id });
      for (const entry of pack.entries) this.damaged.add(entry.id, pack.id, `is in pack ${shortId(pack.id)}, which is missing`);
      return;
    }
    if (actual !== pack.size) {
      this.log.error("pack-size", `pack ${shortId(pack.id)} has ${actual} bytes, the index says ${pack.size}`, { pack: pack.id });
      for (const entry of pack.entries) {
        if (entry.offset + entry.storedLength > actual) this.damaged.add(entry.id, pack.id, `is cut off: pack ${shortId(pack.id)} is truncated`);
      }
      return;
    }
    let trailer: PackEntry[];
    try {
      trailer = await readPackEntries(this.backend, pack.id, actual);
    } catch (err) {
      if (!(err instanceof IntegrityError) && !(err instanceof NotFoundError)) throw err;
      this.log.error("pack-trailer", `pack ${shortId(pack.id)}: trailer unreadable: ${err.message}`, { pack: pack.id });
      return;
    }
    const countDiffers = trailer.length !== pack.entries.length;
    const firstDifference = countDiffers ? -1 : trailer.findIndex((entry, i) => !entriesEqual(entry, pack.entries[i]!));
    if (countDiffers || firstDifference !== -1) {
      const where = countDiffers ? `${trailer.length} blobs, the index ${pack.entries.length}` : `blob ${firstDifference} differs`;
      this.log.error("pack-trailer", `pack ${shortId(pack.id)}: trailer disagrees with the index (${where})`, { pack: pack.id });
    }
  }

  /** The database must hold nothing the index files do not: same files, same packs, one location per blob. */
  private async checkDatabase(): Promise<void> {
    const dbFiles = await this.db.indexFiles();
    const readable = new Set(this.indexFiles);
    for (const file of readable) {
      if (!dbFiles.has(file)) this.log.error("index-db-mismatch", `the index database does not reflect index file ${shortId(file)}`, { indexFile: file });
    }
    for (const file of dbFiles) {
      if (!readable.has(file)) this.log.error("index-db-mismatch", `the index database reflects index file ${shortId(file)}, which is not readable in index/`, { indexFile: file });
    }
    for await (const pack of this.db.packs()) {
      if (!this.packs.has(pack.id)) this.log.error("index-db-mismatch", `the index database lists pack ${shortId(pack.id)}, which no index file lists`, { pack: pack.id });
    }
    let blobs = 0;
    let elsewhere = 0;
    for await (const [, location] of this.db.blobs()) {
      blobs++;
      if (!this.packs.has(location.packId)) elsewhere++;
    }
    if (elsewhere > 0) this.log.error("index-db-mismatch", `the index database locates ${elsewhere} blobs in packs that no index file lists`);
    // A pack listed in more than one way has blobs located that only a later listing names (reported as index-conflict).
    else if (blobs !== this.located && !this.db.hasConflictingListings()) this.log.error("index-db-mismatch", `the index database locates ${blobs - this.located} blobs where no index file puts them`);
  }
}

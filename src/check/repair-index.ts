import { IntegrityError, NotFoundError } from "../errors.js";
import type { BlobType } from "../store/blob-type.js";
import { hashBytes, shortId, type Id } from "../store/id.js";
import type { IndexedPack } from "../store/index/index-file.js";
import { listIndexFiles, readIndexFile, syncIndexDb } from "../store/index/index-sync.js";
import { MAX_INDEX_FILE_BLOBS, writeIndexFile } from "../store/index/index-writer.js";
import { packKey, type PackEntry } from "../store/pack/pack-format.js";
import { listPacks } from "../store/pack/pack-list.js";
import { readPackEntries } from "../store/pack/pack-reader.js";
import type { Repository } from "../store/repository.js";
import { forEachLimit } from "./concurrency.js";
import { salvagePack } from "./pack-salvage.js";
import { PackVerifier } from "./pack-verifier.js";

export interface RepairIndexOptions {
  /** Decide and report everything, write and delete nothing. */
  dryRun?: boolean;
  /** Read every pack whole and verify every blob: packs with damaged blobs are salvaged too. */
  readData?: boolean;
  onInfo?: (message: string) => void;
}

export interface SalvagedPack {
  pack: Id;
  /** Why the pack could not be indexed as it is. */
  reason: string;
  blobsRecovered: number;
  /** Blobs the old index or the trailer listed that could not be recovered. */
  blobsLost: Id[];
  bytesLost: number;
}

export interface RepairIndexReport {
  packs: number;
  /** Packs indexed as they are, from their trailers. */
  indexed: number;
  salvaged: SalvagedPack[];
  /** Packs the old index listed that no longer exist. */
  missing: Id[];
  indexFilesWritten: number;
  indexFilesRemoved: number;
  /** New packs holding the salvaged blobs. */
  packsWritten: number;
  /** Damaged packs deleted once everything recovered from them was durable. */
  packsDeleted: number;
}

const PACKS_IN_FLIGHT = 4;
/** Packs whose trailers are read before their entries are grouped into index files. */
const BATCH = 64;

/**
 * Rebuilds the index from the packs alone: every pack's trailer becomes its index entry, new
 * index files replace all old ones, and the index database is rebuilt from them. A pack whose
 * trailer is unreadable (or, with readData, whose bytes fail verification) is salvaged blob by
 * blob: what can be verified is stored again in new packs, then the damaged pack is deleted.
 * Every step leaves a repository a rerun can finish: new index files, and the salvaged blobs in
 * new packs, are durable before the old index files are removed, and a damaged pack goes last.
 */
export async function repairIndex(repo: Repository, options: RepairIndexOptions = {}): Promise<RepairIndexReport> {
  return new IndexRepairer(repo, options).run();
}

class IndexRepairer {
  private readonly report: RepairIndexReport = { packs: 0, indexed: 0, salvaged: [], missing: [], indexFilesWritten: 0, indexFilesRemoved: 0, packsWritten: 0, packsDeleted: 0 };
  /** Packs that cannot be indexed as they are, with why. */
  private readonly damaged = new Map<Id, string>();
  /** Packs indexed whole from their trailers in this run. */
  private readonly whole = new Set<Id>();
  /** Index files written by this repair (an old one may be rewritten identically). */
  private readonly written = new Set<Id>();
  private group: IndexedPack[] = [];
  private groupBlobs = 0;

  constructor(
    private readonly repo: Repository,
    private readonly options: RepairIndexOptions,
  ) {}

  async run(): Promise<RepairIndexReport> {
    // Adopts what a killed writer left (harmless: everything is re-read below) and marks us as writing.
    if (!this.options.dryRun) await this.repo.beginWriting();
    const { packs } = await listPacks(this.repo.backend);
    this.report.packs = packs.size;
    const oldFiles = await listIndexFiles(this.repo.backend);
    await this.indexFromTrailers(packs);
    const hints = await this.readOldIndex(oldFiles, packs);
    // Salvaged blobs are durable, in new packs and index files, before the old index files (the
    // only record of where a damaged pack's raw blobs began) go: an interrupted repair loses nothing.
    await this.salvage(hints);
    await this.replaceIndexFiles(oldFiles);
    await this.deleteDamagedPacks();
    return this.report;
  }

  /** Reads every pack's trailer (and with readData its bytes) and writes index files for those that are whole. */
  private async indexFromTrailers(packs: Map<Id, number>): Promise<void> {
    const ids = [...packs.keys()].sort();
    const verifier = this.options.readData ? new PackVerifier() : undefined;
    try {
      for (let i = 0; i < ids.length; i += BATCH) {
        const batch = ids.slice(i, i + BATCH);
        const whole = new Map<Id, IndexedPack>();
        await forEachLimit(batch, PACKS_IN_FLIGHT, async (id) => {
          try {
            whole.set(id, await this.readPack(id, packs.get(id)!, verifier));
          } catch (err) {
            if (!(err instanceof IntegrityError) && !(err instanceof NotFoundError)) throw err;
            this.damaged.set(id, err.message);
          }
        });
        for (const id of batch) {
          const pack = whole.get(id);
          if (pack) await this.addToIndex(pack);
        }
      }
    } finally {
      await verifier?.close();
    }
    await this.writeGroup();
  }

  private async readPack(id: Id, size: number, verifier: PackVerifier | undefined): Promise<IndexedPack> {
    const entries = await readPackEntries(this.repo.backend, id, size);
    const type = entries[0]?.type;
    if (!type || entries.some((e) => e.type !== type)) throw new IntegrityError(`pack ${id} ${type ? "mixes blob types" : "holds no blobs"}`);
    if (verifier) {
      const verified = await verifier.verify(this.repo.backend, id, size, entries);
      if (verified.damaged.length > 0) throw new IntegrityError(`${verified.damaged.length} blob(s) fail verification`);
      if (!verified.hashMatches) throw new IntegrityError("content does not match its name");
    } else if (!this.agreesWithIndex(id, size, entries) && hashBytes(await this.repo.backend.get(packKey(id))) !== id) {
      // A trailer that parses may still be damaged (a flipped byte in a blob id or a length):
      // taken as it is, it would replace the old index's true entries and lose those blobs.
      throw new IntegrityError("its trailer differs from the index and its content does not match its name");
    }
    return { id, type, size, entries };
  }

  /** Whether the old index (the index database's view of it) lists exactly these entries for the pack. */
  private agreesWithIndex(id: Id, size: number, entries: readonly PackEntry[]): boolean {
    const summary = this.repo.index.packSummary(id);
    if (!summary || summary.size !== size || summary.blobCount !== entries.length || summary.type !== entries[0]?.type) return false;
    return entries.every((entry) => {
      const location = this.repo.index.locationIn(entry.id, id);
      return (
        location !== undefined &&
        location.type === entry.type &&
        location.offset === entry.offset &&
        location.storedLength === entry.storedLength &&
        location.plainLength === entry.plainLength &&
        location.compression === entry.compression
      );
    });
  }

  private async addToIndex(pack: IndexedPack): Promise<void> {
    this.whole.add(pack.id);
    this.group.push(pack);
    this.groupBlobs += pack.entries.length;
    this.report.indexed++;
    if (this.groupBlobs >= MAX_INDEX_FILE_BLOBS) await this.writeGroup();
  }

  private async writeGroup(): Promise<void> {
    if (this.group.length === 0) return;
    const group = this.group;
    this.group = [];
    this.groupBlobs = 0;
    this.report.indexFilesWritten++;
    if (!this.options.dryRun) this.written.add(await writeIndexFile(this.repo.backend, undefined, group));
  }

  /** What the old index files knew: the blob entries of damaged packs (salvage hints), and packs that are gone. */
  private async readOldIndex(oldFiles: Id[], packs: Map<Id, number>): Promise<Map<Id, { type: BlobType; entries: PackEntry[] }>> {
    const hints = new Map<Id, { type: BlobType; entries: PackEntry[] }>();
    const missing = new Set<Id>();
    for (const file of oldFiles) {
      let content;
      try {
        content = await readIndexFile(this.repo.backend, file);
      } catch (err) {
        if (!(err instanceof IntegrityError)) throw err;
        this.options.onInfo?.(`ignoring damaged index file ${shortId(file)}: ${err.message}`);
        continue;
      }
      for (const pack of content.packs) {
        if (this.damaged.has(pack.id)) hints.set(pack.id, { type: pack.type, entries: pack.entries });
        if (!packs.has(pack.id)) missing.add(pack.id);
      }
    }
    this.report.missing = [...missing].sort();
    return hints;
  }

  private async replaceIndexFiles(oldFiles: Id[]): Promise<void> {
    const obsolete = oldFiles.filter((file) => !this.written.has(file));
    this.report.indexFilesRemoved = obsolete.length;
    if (this.options.dryRun) return;
    for (const file of obsolete) await this.repo.backend.delete(`index/${file}`);
    // From scratch: the database is a cache, and a damaged one may lack entries of files it
    // counts as read (an index file rewritten identically keeps its name).
    await this.repo.index.clear();
    await syncIndexDb(this.repo.index, this.repo.backend);
  }

  /** Stores what can be recovered from each damaged pack in new packs (and their index files). */
  private async salvage(hints: Map<Id, { type: BlobType; entries: PackEntry[] }>): Promise<void> {
    const packsBefore = this.repo.stats.packsWritten;
    const filesBefore = this.repo.indexFilesWritten.length;
    // A blob with a copy in a pack read whole in this run (an earlier, interrupted repair stored
    // it there, say) is not lost; the old index's word that a copy exists is not enough.
    const elsewhere = async (blob: Id) => {
      const copies = [this.repo.index.lookup(blob), ...(await this.repo.index.copiesOf(blob))];
      return copies.some((copy) => copy !== undefined && this.whole.has(copy.packId));
    };
    for (const [id, reason] of [...this.damaged].sort(([a], [b]) => a.localeCompare(b))) {
      const hint = hints.get(id);
      const result = salvagePack(await this.repo.backend.get(packKey(id)), hint?.entries ?? [], hint?.type);
      const recovered = new Set(result.blobs.map((b) => b.id));
      const lost: Id[] = [];
      for (const blob of [...result.expected].filter((b) => !recovered.has(b)).sort()) if (!(await elsewhere(blob))) lost.push(blob);
      this.report.salvaged.push({ pack: id, reason, blobsRecovered: recovered.size, blobsLost: lost, bytesLost: result.lost.reduce((n, l) => n + l.length, 0) });
      this.options.onInfo?.(`pack ${shortId(id)} (${reason}): recovered ${recovered.size} blobs`);
      if (this.options.dryRun) continue;
      for (const blob of result.blobs) if (!(await elsewhere(blob.id))) await this.repo.saveBlob(blob.type, blob.plain, blob.id, { evenIfIndexed: true });
    }
    if (this.options.dryRun || this.damaged.size === 0) return;
    await this.repo.flush();
    this.report.packsWritten = this.repo.stats.packsWritten - packsBefore;
    // A salvaged pack rebuilt byte for byte is indexed by a file that may bear an old file's name.
    for (const file of this.repo.indexFilesWritten.slice(filesBefore)) this.written.add(file);
  }

  /** Once what they held is indexed elsewhere, the damaged packs go. */
  private async deleteDamagedPacks(): Promise<void> {
    if (this.options.dryRun) return;
    for (const id of this.damaged.keys()) {
      // Salvage can rebuild a pack byte for byte (say, when only its footer was damaged): then
      // the name now holds its true content, and stays.
      if (hashBytes(await this.repo.backend.get(packKey(id))) === id) continue;
      await this.repo.backend.delete(packKey(id));
      this.report.packsDeleted++;
    }
  }
}

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
import { verifyPack } from "./pack-verifier.js";

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

/**
 * Rebuilds the index from the packs alone: every pack's trailer becomes its index entry, new
 * index files replace all old ones, and the index database is rebuilt from them. A pack whose
 * trailer is unreadable (or, with readData, whose bytes fail verification) is salvaged blob by
 * blob: what can be verified is stored again in new packs, then the damaged pack is deleted.
 * Every step leaves a repository a rerun can finish: new index files are written before the old
 * ones are removed, and a damaged pack is removed only after its salvaged blobs are indexed.
 */
export async function repairIndex(repo: Repository, options: RepairIndexOptions = {}): Promise<RepairIndexReport> {
  const info = options.onInfo ?? (() => undefined);
  // Adopts what a killed writer left (harmless: everything is re-read below) and marks us as writing.
  if (!options.dryRun) await repo.beginWriting();
  const { packs } = await listPacks(repo.backend);
  const report: RepairIndexReport = { packs: packs.size, indexed: 0, salvaged: [], missing: [], indexFilesWritten: 0, indexFilesRemoved: 0, packsWritten: 0, packsDeleted: 0 };

  const damaged = new Map<Id, string>();
  const good: IndexedPack[] = [];
  const written = new Set<Id>();
  let groupBlobs = 0;
  const flushGroup = async (force: boolean) => {
    if (good.length === 0 || (!force && groupBlobs < MAX_INDEX_FILE_BLOBS)) return;
    const group = good.splice(0, good.length);
    groupBlobs = 0;
    report.indexFilesWritten++;
    if (!options.dryRun) written.add(await writeIndexFile(repo.backend, undefined, group));
  };

  const ids = [...packs.keys()].sort();
  for (let i = 0; i < ids.length; i += 64) {
    const batch = ids.slice(i, i + 64);
    const results = new Map<Id, IndexedPack>();
    await forEachLimit(batch, PACKS_IN_FLIGHT, async (id) => {
      const size = packs.get(id)!;
      try {
        const entries = await readPackEntries(repo.backend, id, size);
        const type = entries[0]?.type;
        if (!type || entries.some((e) => e.type !== type)) throw new IntegrityError(`pack ${id} ${type ? "mixes blob types" : "holds no blobs"}`);
        if (options.readData) {
          const verified = await verifyPack(repo.backend, id, entries);
          if (verified.damaged.length > 0) throw new IntegrityError(`${verified.damaged.length} blob(s) fail verification`);
          if (!verified.hashMatches) throw new IntegrityError("content does not match its name");
        }
        results.set(id, { id, type, size, entries });
      } catch (err) {
        if (!(err instanceof IntegrityError) && !(err instanceof NotFoundError)) throw err;
        damaged.set(id, err.message);
      }
    });
    for (const id of batch) {
      const pack = results.get(id);
      if (!pack) continue;
      good.push(pack);
      groupBlobs += pack.entries.length;
      report.indexed++;
      await flushGroup(false);
    }
  }
  await flushGroup(true);

  // What the old index files knew: blob entries of damaged packs (salvage hints) and packs gone.
  const oldFiles = await listIndexFiles(repo.backend);
  const hints = new Map<Id, { type: BlobType; entries: PackEntry[] }>();
  const missing = new Set<Id>();
  for (const file of oldFiles) {
    let content;
    try {
      content = await readIndexFile(repo.backend, file);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      info(`ignoring damaged index file ${shortId(file)}: ${err.message}`);
      continue;
    }
    for (const pack of content.packs) {
      if (damaged.has(pack.id)) hints.set(pack.id, { type: pack.type, entries: pack.entries });
      if (!packs.has(pack.id)) missing.add(pack.id);
    }
  }
  report.missing = [...missing].sort();

  if (!options.dryRun) {
    for (const file of oldFiles) {
      if (written.has(file)) continue;
      await repo.backend.delete(`index/${file}`);
      report.indexFilesRemoved++;
    }
    await syncIndexDb(repo.index, repo.backend);
  } else {
    report.indexFilesRemoved = oldFiles.length;
  }

  const packsBefore = repo.stats.packsWritten;
  for (const [id, reason] of [...damaged].sort(([a], [b]) => a.localeCompare(b))) {
    const hint = hints.get(id);
    const bytes = await repo.backend.get(packKey(id));
    const result = salvagePack(bytes, hint?.entries ?? [], hint?.type);
    const recovered = new Set(result.blobs.map((b) => b.id));
    report.salvaged.push({
      pack: id,
      reason,
      blobsRecovered: recovered.size,
      blobsLost: [...result.expected].filter((blob) => !recovered.has(blob)).sort(),
      bytesLost: result.lost.reduce((n, l) => n + l.length, 0),
    });
    info(`pack ${shortId(id)} (${reason}): recovered ${recovered.size} blobs`);
    if (options.dryRun) continue;
    for (const blob of result.blobs) await repo.saveBlob(blob.type, blob.plain, blob.id);
  }
  if (!options.dryRun && damaged.size > 0) {
    await repo.flush();
    report.packsWritten = repo.stats.packsWritten - packsBefore;
    for (const id of damaged.keys()) {
      // Salvage can rebuild a pack byte for byte (say, when only its footer was damaged): then
      // the name now holds its true content, and stays.
      if (hashBytes(await repo.backend.get(packKey(id))) === id) continue;
      await repo.backend.delete(packKey(id));
      report.packsDeleted++;
    }
  }
  return report;
}

import { IntegrityError, InterruptedError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { storeNamedByHash } from "../store/backend/store-named-by-hash.js";
import { createHash } from "node:crypto";
import { decodeBlobTransient } from "../store/blob-codec.js";
import type { BlobType } from "../store/blob-type.js";
import { shortId, type Id } from "../store/id.js";
import type { IndexDb } from "../store/index/index-db.js";
import type { IndexedPack } from "../store/index/index-file.js";
import { MAX_INDEX_FILE_BLOBS, writeIndexFile } from "../store/index/index-writer.js";
import { encodeTrailer, packKey, type PackEntry } from "../store/pack/pack-format.js";
import { readPackEntries } from "../store/pack/pack-reader.js";
import { readRanges } from "../store/pack/read-ranges.js";
import type { BlobIdSet } from "./blob-id-set.js";
import type { PackUsage } from "./prune-plan.js";

/**
 * Collects packs into index files of at most MAX_INDEX_FILE_BLOBS blobs and writes each one as
 * soon as it is full, so memory stays bounded however many packs pass through.
 */
export class IndexFileWriter {
  /** Index files written (or found already present with the same content). */
  readonly written: Id[] = [];
  private packs: IndexedPack[] = [];
  private blobs = 0;

  constructor(private readonly backend: Backend) {}

  async add(pack: IndexedPack): Promise<void> {
    if (this.packs.length > 0 && this.blobs + pack.entries.length > MAX_INDEX_FILE_BLOBS) await this.flush();
    this.packs.push(pack);
    this.blobs += pack.entries.length;
  }

  async flush(): Promise<void> {
    if (this.packs.length === 0) return;
    this.written.push(await writeIndexFile(this.backend, undefined, this.packs));
    this.packs = [];
    this.blobs = 0;
  }
}

/** Used blobs closer than this are read together, with the unused bytes between them. */
const READ_GAP = 64 * 1024;
/** Largest read (unless one blob is larger): small reads keep the process's memory small. */
const READ_MAX = 1024 * 1024;

export interface RepackProgress {
  packsRead: number;
  bytesRead: number;
  packsWritten: number;
}

/**
 * Assembles one new pack at a time in a buffer that is reused from pack to pack: repacking
 * copies many small blobs, and fresh buffers for each (then one more to join them) would leave
 * the process holding several packs' worth of garbage at a time.
 */
class PackAssembler {
  private buffer: Buffer;
  private size = 0;
  private entries: PackEntry[] = [];

  constructor(
    readonly type: BlobType,
    capacity: number,
  ) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  get byteLength(): number {
    return this.size;
  }

  get blobCount(): number {
    return this.entries.length;
  }

  add(entry: PackEntry, stored: Uint8Array): void {
    this.reserve(stored.length);
    this.buffer.set(stored, this.size);
    this.entries.push({ ...entry, offset: this.size });
    this.size += stored.length;
  }

  /** The finished pack's bytes (valid until the next add) and its blob list; then starts afresh. */
  finish(): { id: Id; bytes: Buffer; entries: PackEntry[] } {
    const trailer = encodeTrailer(this.entries);
    this.reserve(trailer.length);
    trailer.copy(this.buffer, this.size);
    const bytes = this.buffer.subarray(0, this.size + trailer.length);
    const entries = this.entries;
    this.size = 0;
    this.entries = [];
    return { id: createHash("sha256").update(bytes).digest("hex"), bytes, entries };
  }

  private reserve(bytes: number): void {
    if (this.size + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.size + bytes));
    this.buffer.copy(grown, 0, 0, this.size);
    this.buffer = grown;
  }
}

/**
 * Copies the used blobs of `packs` into new packs of about `packSize` bytes, one type per pack
 * as always, and hands each new pack (durable once handed over) to `onPack`. A blob is copied
 * from the pack the index locates it in, as stored (no recompression), after its content hash
 * is verified: a damaged blob stops prune before anything is deleted. Only the used parts of a
 * pack are read, in ranges of at most about 1 MiB. Returns the new pack ids.
 */
export async function repackPacks(
  backend: Backend,
  index: IndexDb,
  used: BlobIdSet,
  packs: readonly PackUsage[],
  packSize: number,
  onPack: (pack: IndexedPack) => Promise<void>,
  onProgress?: (progress: RepackProgress) => void,
  signal?: AbortSignal,
): Promise<Set<Id>> {
  // Room for a full pack plus the blob that tips it over, so the buffers rarely grow.
  const capacity = packSize + 4 * 1024 * 1024;
  const assemblers: Partial<Record<BlobType, PackAssembler>> = {};
  const written = new Set<Id>();
  const progress: RepackProgress = { packsRead: 0, bytesRead: 0, packsWritten: 0 };

  const writePack = async (assembler: PackAssembler) => {
    if (assembler.blobCount === 0) return;
    const pack = assembler.finish();
    // Same bytes, same name: an interrupted prune may have written this pack (or left it damaged).
    await storeNamedByHash(backend, packKey(pack.id), pack.id, pack.bytes);
    written.add(pack.id);
    progress.packsWritten++;
    await onPack({ id: pack.id, type: assembler.type, size: pack.bytes.length, entries: pack.entries });
  };

  for (const source of packs) {
    // Packs written so far are durable and in no index yet: the next prune removes them.
    if (signal?.aborted) throw new InterruptedError();
    const wanted: PackEntry[] = [];
    for (const entry of await readPackEntries(backend, source.id, source.size)) {
      if (!used.has(entry.id)) continue;
      const location = index.lookup(entry.id);
      if (location?.packId !== source.id) continue;
      if (location.offset !== entry.offset || location.storedLength !== entry.storedLength) {
        throw new IntegrityError(`pack ${shortId(source.id)}: blob ${shortId(entry.id)} is not where the index says; nothing was deleted — run cairn check`);
      }
      wanted.push(entry);
    }
    if (wanted.length !== source.usedBlobs) {
      throw new IntegrityError(`pack ${shortId(source.id)}: found ${wanted.length} of the ${source.usedBlobs} used blobs the index places there; nothing was deleted — run cairn check`);
    }
    for (const run of readRanges(wanted, (entry) => entry, READ_GAP, READ_MAX)) {
      const bytes = await backend.get(packKey(source.id), { offset: run.offset, length: run.length });
      progress.bytesRead += bytes.length;
      for (const entry of run.items) {
        const stored = bytes.subarray(entry.offset - run.offset, entry.offset - run.offset + entry.storedLength);
        decodeBlobTransient(entry.id, stored, entry.compression, entry.plainLength);
        const assembler = (assemblers[entry.type] ??= new PackAssembler(entry.type, capacity));
        assembler.add(entry, stored);
        if (assembler.byteLength >= packSize) await writePack(assembler);
      }
    }
    progress.packsRead++;
    onProgress?.(progress);
  }
  for (const assembler of Object.values(assemblers)) await writePack(assembler);
  onProgress?.(progress);
  return written;
}

import { CairnError, IntegrityError, InterruptedError } from "../errors.js";
import { RangeReader } from "../store/backend/range-reader.js";
import { decodeBlobTransient, type CompressionCode } from "../store/blob-codec.js";
import type { Id } from "../store/id.js";
import type { BlobLocation } from "../store/index/blob-location.js";
import { packKey } from "../store/pack/pack-format.js";
import { BULK_READ_GAP, BULK_READ_MAX, readRanges } from "../store/pack/read-ranges.js";
import type { Repository } from "../store/repository.js";
import type { Snapshot, StoredSnapshot } from "../store/snapshot/snapshot.js";
import { parseTree } from "../store/tree/tree-codec.js";

export interface CopyOptions {
  /** Told of each snapshot as it is copied, or found already copied. */
  onSnapshot?: (event: CopiedSnapshot) => void;
  signal?: AbortSignal;
}

export interface CopiedSnapshot {
  from: Id;
  /** The copy's id in the destination; the copy found there when `alreadyThere`. */
  to: Id;
  alreadyThere: boolean;
}

export interface CopyResult {
  snapshots: CopiedSnapshot[];
  /** Blobs the destination lacked, and their plaintext bytes. */
  blobsCopied: number;
  bytesCopied: number;
}

/** Data blobs gathered before they are read pack by pack: bounds memory for any snapshot. */
const BLOBS_PER_ROUND = 65_536;
const PACK_READS_IN_FLIGHT = 3;

/**
 * Whether two snapshots are copies of each other: everything but the parent, the original and
 * the summary is the same (restic's rule), so copying again finds what an earlier copy wrote.
 */
export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  const sameList = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    Date.parse(a.time) === Date.parse(b.time) &&
    a.tree === b.tree &&
    a.hostname === b.hostname &&
    a.username === b.username &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    sameList(a.paths, b.paths) &&
    sameList([...a.tags].sort(), [...b.tags].sort())
  );
}

/**
 * Copies snapshots, and every tree and data blob they reference that the destination lacks,
 * from one repository into another. Blobs are read from the source and checked against their
 * ids, then stored in the destination (compressed as it compresses); each snapshot document is
 * written only once everything it references is durable there, so an interrupted copy leaves
 * no snapshot that lacks data, and the next run takes up what is missing. The copy records the
 * source snapshot's id as its `original` and has no `parent`.
 */
export async function copySnapshots(source: Repository, destination: Repository, snapshots: readonly StoredSnapshot[], options: CopyOptions = {}): Promise<CopyResult> {
  const result: CopyResult = { snapshots: [], blobsCopied: 0, bytesCopied: 0 };
  const present = await destination.listSnapshots();
  for (const snapshot of snapshots) {
    throwIfInterrupted(options.signal);
    const existing = present.find((other) => sameSnapshot(other, snapshot));
    let event: CopiedSnapshot;
    if (existing) {
      event = { from: snapshot.id, to: existing.id, alreadyThere: true };
    } else {
      let trees: Id[];
      try {
        trees = await copyTree(source, destination, snapshot.tree, result, options.signal);
      } catch (err) {
        // What was copied is kept, indexed, for the next run to build on (as a backup does).
        await destination.flush().catch(() => undefined);
        throw err;
      }
      await destination.flush();
      // Marked only now that every blob below them is durable (see IndexDb.markCompleteTrees).
      await destination.markCompleteTrees(trees);
      const { id, ...document } = snapshot;
      // Its parent is a snapshot of the source repository, meaningless here (restic drops it too).
      delete document.parent;
      const to = await destination.saveSnapshot({ ...document, original: snapshot.original ?? id });
      present.push({ ...document, id: to });
      event = { from: id, to, alreadyThere: false };
    }
    result.snapshots.push(event);
    options.onSnapshot?.(event);
  }
  return result;
}

interface WantedBlob {
  id: Id;
  location: BlobLocation;
}

/**
 * Stores the tree `root` and everything below it that the destination lacks; returns the trees
 * gone through. A tree the destination holds is still gone through unless it is marked
 * complete: an interrupted copy or backup may have stored a tree without all that is below it.
 * Data blobs are gathered, then read pack by pack, checked against their ids and stored as the
 * source compressed them.
 */
async function copyTree(source: Repository, destination: Repository, root: Id, result: CopyResult, signal: AbortSignal | undefined): Promise<Id[]> {
  const walked = new Set<Id>();
  let wanted = new Map<Id, WantedBlob>();
  const stack: Id[] = [root];
  while (stack.length > 0) {
    throwIfInterrupted(signal);
    const tree = stack.pop()!;
    if (walked.has(tree) || destination.isCompleteTree(tree)) continue;
    walked.add(tree);
    // One read serves both: the bytes are stored as they are, so the tree keeps its id.
    const bytes = await source.loadBlob(tree);
    for (const node of parseTree(tree, bytes)) {
      if (node.subtree) stack.push(node.subtree);
      for (const id of node.content ?? []) {
        if (wanted.has(id) || destination.hasBlob(id)) continue;
        const location = source.lookupBlob(id);
        if (!location) throw new IntegrityError(`blob ${id} is not in the source repository's index (cairn check there says what it affects)`);
        wanted.set(id, { id, location });
      }
    }
    const length = bytes.length;
    if ((await destination.saveBlob("tree", bytes, tree)).added) count(result, length);
    if (wanted.size >= BLOBS_PER_ROUND) {
      await copyData(source, destination, [...wanted.values()], result, signal);
      wanted = new Map();
    }
  }
  await copyData(source, destination, [...wanted.values()], result, signal);
  return [...walked];
}

function count(result: CopyResult, plainLength: number): void {
  result.blobsCopied++;
  result.bytesCopied += plainLength;
}

/** Reads the blobs pack by pack (a few packs at a time), checks each and stores it in the destination. */
async function copyData(source: Repository, destination: Repository, blobs: readonly WantedBlob[], result: CopyResult, signal: AbortSignal | undefined): Promise<void> {
  const byPack = new Map<Id, WantedBlob[]>();
  for (const blob of blobs) {
    const inPack = byPack.get(blob.location.packId);
    if (inPack) inPack.push(blob);
    else byPack.set(blob.location.packId, [blob]);
  }
  const packs = [...byPack.entries()].sort(([a], [b]) => a.localeCompare(b));
  let next = 0;
  let stop = false;
  const reader = async () => {
    const ranges = new RangeReader(source.backend);
    while (next < packs.length && !stop) {
      throwIfInterrupted(signal);
      const [packId, inPack] = packs[next++]!;
      for (const range of readRanges(inPack, (blob) => blob.location, BULK_READ_GAP, BULK_READ_MAX)) {
        let bytes: Buffer | undefined;
        try {
          bytes = await ranges.read(packKey(packId), { offset: range.offset, length: range.length });
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
        }
        for (const { id, location } of range.items) {
          const stored = bytes?.subarray(location.offset - range.offset, location.offset - range.offset + location.storedLength);
          if (stored && isIntact(id, stored, location)) {
            if (await destination.saveStoredBlob("data", id, location.plainLength, { stored, compression: location.compression as CompressionCode })) count(result, location.plainLength);
            continue;
          }
          // This copy is damaged or unreadable: loadBlob tries the others (an interrupted prune leaves some), or says why none will do.
          const plain = await source.loadBlob(id).catch((err: unknown) => {
            throw err instanceof CairnError ? new IntegrityError(`in the source repository, ${err.message} (cairn check --read-data there says what it affects)`) : err;
          });
          if ((await destination.saveBlob("data", plain, id)).added) count(result, location.plainLength);
        }
      }
    }
  };
  const readers = Array.from({ length: PACK_READS_IN_FLIGHT }, () =>
    reader().catch((err: unknown) => {
      stop = true;
      throw err;
    }),
  );
  const outcomes = await Promise.allSettled(readers);
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
}

function isIntact(id: Id, stored: Uint8Array, location: BlobLocation): boolean {
  try {
    decodeBlobTransient(id, stored, location.compression, location.plainLength);
    return true;
  } catch (err) {
    if (err instanceof IntegrityError) return false;
    throw err;
  }
}

function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError();
}

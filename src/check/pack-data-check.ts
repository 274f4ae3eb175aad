import { CairnError, InterruptedError } from "../errors.js";
import type { Backend } from "../store/backend/backend.js";
import { shortId, type Id } from "../store/id.js";
import type { IndexedPack } from "../store/index/index-file.js";
import { readIndexFile } from "../store/index/index-sync.js";
import { forEachLimit } from "./concurrency.js";
import type { DamagedBlobs } from "./damaged-blobs.js";
import type { FindingLog } from "./findings.js";
import type { IndexedPackInfo } from "./index-check.js";
import { selectPacks, type PackSubset } from "./pack-subset.js";
import { PackVerifier } from "./pack-verifier.js";

/**
 * The data half of check: reads the chosen packs, each once and whole, and records every pack
 * whose bytes do not hash to its name and every blob that does not decode to its id. Needs no
 * index database: the blob list of each pack comes from its index file.
 */
export class PackDataChecker {
  packsRead = 0;
  bytesRead = 0;

  constructor(
    private readonly backend: Backend,
    private readonly log: FindingLog,
    private readonly damaged: DamagedBlobs,
    private readonly onPackRead?: (done: number, total: number, bytes: number) => void,
    private readonly signal?: AbortSignal,
  ) {}

  /** Reads the packs of `subset` among those indexed and present on disk. */
  async run(indexed: ReadonlyMap<Id, IndexedPackInfo>, onDisk: ReadonlyMap<Id, number>, subset: PackSubset, random?: () => number): Promise<void> {
    const candidates = new Map([...indexed.keys()].filter((id) => onDisk.has(id)).map((id) => [id, onDisk.get(id)!] as const));
    const chosen = selectPacks(candidates, subset, random);
    // Each index file is read once, for all of its chosen packs.
    const byIndexFile = new Map<Id, Set<Id>>();
    for (const id of chosen) {
      const file = indexed.get(id)!.indexFile;
      if (!byIndexFile.has(file)) byIndexFile.set(file, new Set());
      byIndexFile.get(file)!.add(id);
    }
    const verifier = new PackVerifier();
    try {
      for (const [file, ids] of byIndexFile) {
        const packs = (await readIndexFile(this.backend, file)).packs.filter((pack) => ids.has(pack.id));
        await forEachLimit(packs, verifier.parallelism, (pack) => this.verify(verifier, pack, candidates.get(pack.id)!, chosen.length));
      }
    } finally {
      await verifier.close();
    }
  }

  private async verify(verifier: PackVerifier, pack: IndexedPack, size: number, total: number): Promise<void> {
    if (this.signal?.aborted) throw new InterruptedError();
    let result;
    try {
      result = await verifier.verify(this.backend, pack.id, size, pack.entries);
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      this.log.error("pack-unreadable", `pack ${shortId(pack.id)} cannot be read: ${err.message}`, { pack: pack.id });
      for (const entry of pack.entries) this.damaged.add(entry.id, pack.id, `is in pack ${shortId(pack.id)}, which cannot be read`);
      return;
    }
    this.packsRead++;
    this.bytesRead += result.bytesRead;
    if (!result.hashMatches) this.log.error("pack-hash", `pack ${shortId(pack.id)}: content does not match its name (the pack is damaged)`, { pack: pack.id });
    for (const { entry, reason } of result.damaged) {
      this.damaged.add(entry.id, pack.id, reason);
      this.log.error("blob-damaged", `blob ${shortId(entry.id)} ${reason}`, { pack: pack.id, blob: entry.id });
    }
    this.onPackRead?.(this.packsRead, total, this.bytesRead);
  }
}

import type { Backend } from "../store/backend/backend.js";
import type { Id } from "../store/id.js";
import { listPacks, type PackListing } from "../store/pack/pack-list.js";
import type { Repository } from "../store/repository.js";
import { DamageReporter } from "./damage-report.js";
import { DamagedBlobs } from "./damaged-blobs.js";
import { FindingLog, type Finding } from "./findings.js";
import { IndexChecker, type IndexedPackInfo } from "./index-check.js";
import { PackDataChecker } from "./pack-data-check.js";
import type { PackSubset } from "./pack-subset.js";

export interface CheckOptions {
  /** Also read pack data (all packs, or a subset); without it only the structure is checked. */
  readData?: PackSubset;
  /** Told of each finding as it is made. */
  onFinding?: (finding: Finding) => void;
  /** Told after each pack read. */
  onPackRead?: (done: number, total: number, bytes: number) => void;
  random?: () => number;
  /** Stops the check (InterruptedError) between packs read and between trees walked. */
  signal?: AbortSignal;
}

export interface CheckReport {
  findings: Finding[];
  errors: number;
  warnings: number;
  snapshots: number;
  trees: number;
  files: number;
  indexFiles: number;
  packs: number;
  packsRead: number;
  bytesRead: number;
}

/**
 * How check reaches the repository. Reading pack data can take hours, and the index database
 * admits one process at a time, so check gives it back while it reads: `acquire` opens the
 * repository, `release` closes it (for a repository the caller holds, both do nothing).
 */
export interface CheckAccess {
  backend: Backend;
  acquire(): Promise<Repository>;
  release(repo: Repository): Promise<void>;
}

export function heldRepository(repo: Repository): CheckAccess {
  return { backend: repo.backend, acquire: async () => repo, release: async () => undefined };
}

/**
 * Checks a repository: the structure of index files, packs and the index database; with
 * `readData`, the bytes of (some of) the packs; then every snapshot's tree graph, reporting
 * each file and directory that uses a damaged or missing blob by snapshot and path.
 */
export async function checkRepository(access: CheckAccess, options: CheckOptions = {}): Promise<CheckReport> {
  const log = new FindingLog(options.onFinding);
  const damaged = new DamagedBlobs();
  const report: CheckReport = { findings: log.findings, errors: 0, warnings: 0, snapshots: 0, trees: 0, files: 0, indexFiles: 0, packs: 0, packsRead: 0, bytesRead: 0 };
  const walk = async (repo: Repository) => {
    const reporter = new DamageReporter(repo, damaged, log, options.signal);
    await reporter.run();
    Object.assign(report, reporter.stats);
  };

  let indexed: Map<Id, IndexedPackInfo>;
  let listing: PackListing;
  let repo = await access.acquire();
  try {
    // Listed while holding the index database: no writer can add packs and index files meanwhile.
    listing = await listPacks(access.backend);
    report.packs = listing.packs.size;
    const structure = new IndexChecker(repo.backend, repo.index, listing, log, damaged);
    await structure.run();
    report.indexFiles = structure.indexFiles.length;
    indexed = structure.packs;
    if (!options.readData) await walk(repo);
  } finally {
    await access.release(repo);
  }
  if (options.readData) {
    const reader = new PackDataChecker(access.backend, log, damaged, options.onPackRead, options.signal);
    await reader.run(indexed, listing.packs, options.readData, options.random);
    report.packsRead = reader.packsRead;
    report.bytesRead = reader.bytesRead;
    repo = await access.acquire();
    try {
      await walk(repo);
    } finally {
      await access.release(repo);
    }
  }
  report.errors = log.errors;
  report.warnings = log.warnings;
  return report;
}

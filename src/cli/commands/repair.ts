import type { Command } from "commander";
import { repairIndex } from "../../check/repair-index.js";
import { repairSnapshots, type TreeRepair } from "../../check/repair-snapshots.js";
import { shortId } from "../../store/id.js";
import { commandContext } from "../command-context.js";
import { snakeCaseKeys } from "../output.js";
import { formatBytes } from "../parse-options.js";
import { withRepository } from "../repository-session.js";

interface RepairIndexFlags {
  readData: boolean;
  dryRun: boolean;
}

interface RepairSnapshotsFlags {
  forget: boolean;
  dryRun: boolean;
}

export function registerRepair(program: Command): void {
  const repair = program.command("repair").description("repair a damaged repository (see docs/check-and-repair.md)");

  repair
    .command("index")
    .description("rebuild the index files and the index database from the packs, salvaging packs with a damaged trailer")
    .option("--read-data", "also read and verify every blob; packs with damaged blobs are salvaged too", false)
    .option("-n, --dry-run", "report what would be done, change nothing", false)
    .action(async (flags: RepairIndexFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      // The index database is rebuilt from the old index files first: it may be the damaged part.
      await withRepository(globals, out, flags.dryRun ? "read" : "exclusive", async (repo) => {
        const report = await repairIndex(repo, { dryRun: flags.dryRun, readData: flags.readData, onInfo: (m) => out.info(m) });
        const would = flags.dryRun ? "would " : "";
        out.line(`${report.packs} packs: ${report.indexed} indexed from their trailers, ${report.salvaged.length} salvaged`);
        for (const s of report.salvaged) {
          out.line(`pack ${shortId(s.pack)} (${s.reason}): ${s.blobsRecovered} blobs recovered, ${s.blobsLost.length} lost, ${formatBytes(s.bytesLost)} unaccounted for`);
        }
        if (report.missing.length > 0) out.line(`${report.missing.length} indexed packs no longer exist and ${would}leave the index: ${report.missing.map(shortId).join(" ")}`);
        out.line(`${would}write ${report.indexFilesWritten} index files and remove ${report.indexFilesRemoved} old ones`);
        if (report.packsDeleted > 0) out.line(`stored the salvaged blobs in ${report.packsWritten} new packs and deleted ${report.packsDeleted} damaged packs`);
        if (flags.dryRun) out.line("dry run: nothing was changed");
        out.record({ message_type: "summary", dry_run: flags.dryRun, ...snakeCaseKeys(report), salvaged: report.salvaged.map((s) => snakeCaseKeys(s)) });
      }, { freshIndexDb: !flags.dryRun });
    });

  repair
    .command("snapshots")
    .description("write copies of damaged snapshots with files cut at their first missing blob, keeping the originals unless --forget")
    .option("--forget", "delete each original once its repaired copy is written", false)
    .option("-n, --dry-run", "report what would be done, change nothing", false)
    .action(async (flags: RepairSnapshotsFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      await withRepository(globals, out, flags.dryRun ? "read" : "exclusive", async (repo) => {
        const report = await repairSnapshots(repo, { dryRun: flags.dryRun, forget: flags.forget });
        const would = flags.dryRun ? "would be " : "";
        for (const r of report.repaired) {
          if (r.unrepairable) {
            out.line(`snapshot ${shortId(r.snapshot)} cannot be repaired: ${r.unrepairable}${r.forgotten ? ` (${would}forgotten)` : ""}`);
          } else {
            const to = r.repaired ? ` -> ${shortId(r.repaired)}` : "";
            out.line(`snapshot ${shortId(r.snapshot)}${to}${r.forgotten ? ` (original ${would}forgotten)` : ""}`);
          }
          for (const t of r.repairs) out.line(`  ${describeRepair(t)}`);
          out.record({ message_type: "snapshot", ...snakeCaseKeys(r), repairs: r.repairs.map((t) => snakeCaseKeys(t)) });
        }
        const fixed = report.repaired.filter((r) => !r.unrepairable).length;
        out.line(`${fixed} of ${report.snapshots} snapshots ${flags.dryRun ? "would be " : ""}repaired${flags.dryRun ? " (dry run: nothing was changed)" : ""}`);
        out.record({ message_type: "summary", dry_run: flags.dryRun, snapshots: report.snapshots, repaired: fixed, unrepairable: report.repaired.length - fixed });
      });
    });
}

function describeRepair(t: TreeRepair): string {
  switch (t.action) {
    case "file-cut":
      return `${t.path}: cut to ${t.keptSize} of ${t.originalSize} bytes (${t.reason})`;
    case "dir-emptied":
      return `${t.path}: emptied (${t.reason})`;
    case "entry-removed":
      return `${t.path}: removed (${t.reason})`;
  }
}

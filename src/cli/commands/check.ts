import type { Command } from "commander";
import { checkRepository, type CheckOptions } from "../../check/checker.js";
import type { Finding } from "../../check/findings.js";
import { parsePackSubset } from "../../check/pack-subset.js";
import { ExitCode, UsageError } from "../../errors.js";
import type { LocalBackend } from "../../store/backend/local-backend.js";
import { commandContext } from "../command-context.js";
import { snakeCaseKeys, type Output } from "../output.js";
import { formatBytes, parseSize } from "../parse-options.js";
import { ProgressLine } from "../progress.js";
import { openSessionRepository, withBackend } from "../repository-session.js";
import { abortOnSignals } from "../abort-on-signals.js";

interface CheckFlags {
  readData: boolean;
  readDataSubset?: string;
}

const REACQUIRE_WAIT_MS = 24 * 60 * 60 * 1000;

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("verify the repository: structure always, pack data with --read-data; damage is reported by snapshot and path")
    .option("--read-data", "read every pack and verify every blob", false)
    .option("--read-data-subset <subset>", "read only some packs: N/M (bucket N of M, by pack id), P% or a size such as 500M")
    .action(async (flags: CheckFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      if (flags.readData && flags.readDataSubset) throw new UsageError("give either --read-data or --read-data-subset");
      let progressText = "";
      const progress = !globals.quiet && !globals.json && process.stderr.isTTY ? new ProgressLine(process.stderr, () => progressText) : undefined;
      const options: CheckOptions = {
        onFinding: (f) => {
          progress?.clear();
          printFinding(out, f);
        },
      };
      if (flags.readData) options.readData = { kind: "all" };
      if (flags.readDataSubset) options.readData = parsePackSubset(flags.readDataSubset, (text) => parseSize(text, "--read-data-subset"));
      options.onPackRead = (done, total, bytes) => {
        progressText = `read ${done}/${total} packs, ${formatBytes(bytes)}`;
      };

      // Stopped between packs and between trees, with the lock released: exit code 130.
      const report = await withBackend(globals, out, "read", async (backend: LocalBackend) => {
        progress?.start();
        let opened = 0;
        try {
          return await abortOnSignals((signal) => checkRepository(
            {
              backend,
              acquire: async () => {
                // After reading pack data, check waits for the index database as long as it takes
                // rather than throw that work away; --retry-lock bounds only the first wait.
                const wait = opened++ === 0 ? globals : { ...globals, retryLock: Math.max(globals.retryLock, REACQUIRE_WAIT_MS) };
                const repo = await openSessionRepository(backend.root, wait, out);
                if (repo.indexStatus.sync === "rebuilt") out.info("index database rebuilt from the index files");
                return repo;
              },
              release: (repo) => repo.close(),
            },
            { ...options, signal },
          ));
        } finally {
          progress?.stop();
        }
      });

      out.line(`checked ${report.snapshots} snapshots, ${report.trees} trees, ${report.files} files, ${report.indexFiles} index files, ${report.packs} packs`);
      if (options.readData) out.line(`read ${report.packsRead} packs (${formatBytes(report.bytesRead)})`);
      out.line(report.errors === 0 ? `no errors found${report.warnings ? ` (${report.warnings} warnings)` : ""}` : `${report.errors} errors, ${report.warnings} warnings`);
      const { findings, ...summary } = report;
      out.record({ message_type: "summary", ...snakeCaseKeys(summary) });
      if (report.errors > 0) {
        out.error(`check found ${report.errors} error(s); see docs/check-and-repair.md for what to do`);
        process.exitCode = ExitCode.fatal;
      }
    });
}

function printFinding(out: Output, finding: Finding): void {
  out.record({ message_type: "finding", ...snakeCaseKeys(finding) });
  out.result(`${finding.level}: ${finding.message}`);
}

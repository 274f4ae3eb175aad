import type { Command } from "commander";
import { DiffStatsCollector, type DiffStats } from "../../diff/diff-stats.js";
import { diffTrees, type ChangeKind, type TreeChange } from "../../diff/tree-diff.js";
import { UsageError } from "../../errors.js";
import type { Id } from "../../store/id.js";
import { shortId } from "../../store/id.js";
import type { Repository } from "../../store/repository.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import type { StoredSnapshot } from "../../store/snapshot/snapshot.js";
import { findNode } from "../../store/tree/tree-walker.js";
import { commandContext } from "../command-context.js";
import { formatBytes } from "../parse-options.js";
import { withRepository } from "../repository-session.js";
import { splitSnapshotPath } from "../snapshot-argument.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface DiffFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
}

/** restic's markers, so scripts written for `restic diff` keep working. */
const MODIFIER: Record<ChangeKind, string> = { added: "+", removed: "-", modified: "M", metadata: "U", type: "T" };

/** The tree to compare for SNAPSHOT or SNAPSHOT:/dir. */
async function rootTree(repo: Repository, snapshot: StoredSnapshot, path: string | undefined): Promise<Id> {
  if (!path) return snapshot.tree;
  const node = await findNode(repo, snapshot.tree, path);
  if (node && node.type !== "dir") throw new UsageError(`${path} is not a directory in snapshot ${shortId(snapshot.id)}`);
  return node ? node.subtree! : snapshot.tree;
}

function displayPath(change: TreeChange): string {
  return (change.after ?? change.before)!.type === "dir" ? `${change.path}/` : change.path;
}

function printStats(line: (text: string) => void, s: DiffStats): void {
  const n = (v: number) => String(v).padStart(5);
  line("");
  line(`Files:        ${n(s.files.added)} new, ${n(s.files.removed)} removed, ${n(s.files.modified)} changed`);
  line(`Dirs:         ${n(s.dirs.added)} new, ${n(s.dirs.removed)} removed`);
  line(`Others:       ${n(s.others.added)} new, ${n(s.others.removed)} removed`);
  line(`Metadata:     ${n(s.metadataChanged)} changed`);
  line(`Types:        ${n(s.typeChanged)} changed`);
  line(`Data Blobs:   ${n(s.dataBlobs.added)} new, ${n(s.dataBlobs.removed)} removed`);
  line(`  Added:   ${formatBytes(s.bytes.added)}`);
  line(`  Removed: ${formatBytes(s.bytes.removed)}`);
}

export function registerDiff(program: Command): void {
  addSnapshotFilterOptions(program.command("diff").description("show what changed between two snapshots (or SNAPSHOT:/dir parts of them)"))
    .argument("<snapshots...>", "two snapshots (id, prefix or latest); with --at, only the newer one")
    .addHelpText("after", "\nMarkers: + added, - removed, M content changed, U metadata only (mode, owner, mtime, xattrs), T type changed.\nWith --at TIME the older side is the snapshot that was current at TIME: cairn diff --at yesterday latest")
    .action(async (args: string[], flags: DiffFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      const wanted = flags.at === undefined ? 2 : 1;
      if (args.length !== wanted) throw new UsageError(flags.at === undefined ? "diff needs two snapshots: cairn diff A B" : "with --at, diff takes one snapshot: the older side is chosen by --at");
      const filter = snapshotFilter(flags);
      const plain = { ...filter };
      delete plain.at;
      await withRepository(globals, out, "read", async (repo) => {
        const all = await repo.listSnapshots();
        const newer = splitSnapshotPath(args[args.length - 1]!);
        const older = args.length === 2 ? splitSnapshotPath(args[0]!) : { selector: "latest", path: newer.path };
        const a = selectSnapshot(all, older.selector, args.length === 2 ? plain : filter);
        const b = selectSnapshot(all, newer.selector, plain);
        out.line(`comparing snapshot ${shortId(a.id)} to ${shortId(b.id)}:`);
        out.line("");
        const stats = new DiffStatsCollector();
        const trees = { before: await rootTree(repo, a, older.path), after: await rootTree(repo, b, newer.path) };
        for await (const change of diffTrees(repo, trees.before, trees.after)) {
          stats.add(change);
          out.result(`${MODIFIER[change.kind].padEnd(5)}${displayPath(change)}`);
          const record: Record<string, unknown> = { message_type: "change", path: change.path, modifier: MODIFIER[change.kind], kind: change.kind, type: (change.after ?? change.before)!.type };
          if (change.fields) record.fields = change.fields;
          out.record(record);
        }
        const s = await stats.finish(repo, trees);
        printStats((text) => out.result(text), s);
        out.record({
          message_type: "statistics",
          source_snapshot: a.id,
          target_snapshot: b.id,
          changed_files: s.files.modified,
          metadata_changed: s.metadataChanged,
          type_changed: s.typeChanged,
          added: { files: s.files.added, dirs: s.dirs.added, others: s.others.added, data_blobs: s.dataBlobs.added, bytes: s.bytes.added },
          removed: { files: s.files.removed, dirs: s.dirs.removed, others: s.others.removed, data_blobs: s.dataBlobs.removed, bytes: s.bytes.removed },
        });
      });
    });
}

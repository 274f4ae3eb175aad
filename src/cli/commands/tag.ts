import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { shortId } from "../../store/id.js";
import { selectSnapshots } from "../../store/snapshot/snapshot-filter.js";
import { listSnapshots, unreadableSnapshotWarning } from "../../store/snapshot/snapshot-store.js";
import { retagSnapshot, type TagChange } from "../../store/snapshot/snapshot-tags.js";
import { commandContext } from "../command-context.js";
import { collectTags } from "../parse-options.js";
import { withBackend } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface TagFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  add: string[];
  remove: string[];
  set?: string[];
}

export function registerTag(program: Command): void {
  addSnapshotFilterOptions(program.command("tag").description("add, remove or replace the tags of snapshots (default: all that pass the filters)"))
    .argument("[snapshots...]", "snapshot ids, unique prefixes or latest")
    .option("--add <tags>", "add these tags (comma-separated, repeatable)", collectTags, [])
    .option("--remove <tags>", "remove these tags (comma-separated, repeatable)", collectTags, [])
    .option("--set <tags>", 'replace all tags with these (comma-separated, repeatable; --set "" removes all)', collectTags)
    .action(async (selectors: string[], flags: TagFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      if (flags.set === undefined && flags.add.length === 0 && flags.remove.length === 0) throw new UsageError("nothing to do: give --add, --remove or --set");
      if (flags.set !== undefined && (flags.add.length > 0 || flags.remove.length > 0)) throw new UsageError("--set replaces all tags and cannot be combined with --add or --remove");
      const change: TagChange = { add: flags.add, remove: flags.remove };
      if (flags.set !== undefined) change.set = flags.set;
      await withBackend(globals, out, "exclusive", async (backend) => {
        const snapshots = selectSnapshots(await listSnapshots(backend, (id, err) => out.warn(unreadableSnapshotWarning(id, err))), selectors, snapshotFilter(flags));
        let changed = 0;
        for (const snapshot of snapshots) {
          const result = await retagSnapshot(backend, snapshot, change);
          if (!result) continue;
          changed++;
          out.line(`${shortId(snapshot.id)} -> ${shortId(result.id)} [${result.snapshot.tags.join(",")}]`);
          out.record({ message_type: "changed", old_snapshot_id: snapshot.id, new_snapshot_id: result.id, tags: result.snapshot.tags });
        }
        out.line(`${changed} snapshot${changed === 1 ? "" : "s"} changed, ${snapshots.length - changed} already as asked`);
        out.record({ message_type: "summary", changed_snapshots: changed, unchanged_snapshots: snapshots.length - changed });
      });
    });
}

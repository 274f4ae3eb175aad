import type { Command } from "commander";
import { walkTree } from "../../store/tree/tree-walker.js";
import { selectSnapshot } from "../../store/snapshot/snapshot-filter.js";
import { commandContext } from "../command-context.js";
import { modeString } from "../file-mode.js";
import { localTime } from "../../platform/local-time.js";
import { withRepository } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface LsFlags {
  host: string[];
  tag: string[];
  path: string[];
  long: boolean;
  recursive: boolean;
}

export function registerLs(program: Command): void {
  addSnapshotFilterOptions(program.command("ls").description("list files in a snapshot"))
    .argument("<snapshot>", "snapshot id, unique prefix, or latest")
    .argument("[dir]", "directory inside the snapshot to list", "/")
    .option("-l, --long", "show mode, owner, size and time", false)
    .option("--no-recursive", "list only the directory's own entries")
    .action(async (selector: string, dir: string, flags: LsFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      await withRepository(globals, out, "read", async (repo) => {
        const snapshot = selectSnapshot(await repo.listSnapshots(), selector, snapshotFilter(flags));
        out.line(`snapshot ${snapshot.id.slice(0, 8)} of [${snapshot.paths.join(" ")}] at ${localTime(snapshot.time)}:`);
        for await (const { path, node } of walkTree(repo, snapshot.tree, { start: dir, recursive: flags.recursive })) {
          out.record({ path, name: node.name, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid, user: node.user, group: node.group, size: node.size, mtime: node.mtime, linktarget: node.linkTarget });
          if (flags.long) {
            const owner = `${node.user ?? node.uid}/${node.group ?? node.gid}`;
            out.result(`${modeString(node)} ${owner.padEnd(15)} ${String(node.size ?? 0).padStart(12)} ${localTime(node.mtime)} ${path}${node.type === "symlink" ? ` -> ${node.linkTarget}` : ""}`);
          } else {
            out.result(path);
          }
        }
      });
    });
}

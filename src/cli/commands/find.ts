import type { Command } from "commander";
import { PathFinder, type FindMatch } from "../../find/path-finder.js";
import { shortId } from "../../store/id.js";
import { selectSnapshots } from "../../store/snapshot/snapshot-filter.js";
import { commandContext } from "../command-context.js";
import { localTime } from "../../platform/local-time.js";
import { collect } from "../parse-options.js";
import { withRepository } from "../repository-session.js";
import { addSnapshotFilterOptions, snapshotFilter } from "../snapshot-options.js";

interface FindFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  snapshot: string[];
  ignoreCase: boolean;
}

function matchJson(m: FindMatch): Record<string, unknown> {
  const n = m.node;
  return { path: m.path, type: n.type, mode: n.mode, size: n.size, mtime: n.mtime, uid: n.uid, gid: n.gid, user: n.user, group: n.group, linktarget: n.linkTarget };
}

export function registerFind(program: Command): void {
  addSnapshotFilterOptions(program.command("find").description("find which snapshots hold paths matching glob patterns"))
    .argument("<patterns...>", "glob patterns: from the root if they start with a slash (/home/*/notes.txt), else against the last components of each path (ann/*.txt) or, without a slash, its name (*.jpg)")
    .option("-s, --snapshot <id>", "search only this snapshot (repeatable; default: all that pass the filters)", collect, [])
    .option("-i, --ignore-case", "match regardless of case", false)
    .action(async (patterns: string[], flags: FindFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      await withRepository(globals, out, "read", async (repo) => {
        const snapshots = selectSnapshots(await repo.listSnapshots(), flags.snapshot, snapshotFilter(flags));
        const finder = new PathFinder(repo, patterns, { ignoreCase: flags.ignoreCase });
        let total = 0;
        let holding = 0;
        for (const snapshot of snapshots) {
          const matches: FindMatch[] = [];
          for await (const match of finder.find(snapshot.tree)) matches.push(match);
          if (matches.length === 0) continue;
          total += matches.length;
          holding++;
          out.result(`Found ${matches.length} in snapshot ${shortId(snapshot.id)} of [${snapshot.paths.join(" ")}] at ${localTime(snapshot.time)} (${snapshot.hostname}):`);
          for (const m of matches) out.result(`  ${m.path}${m.node.type === "dir" ? "/" : ""}`);
          out.record({ snapshot: snapshot.id, time: snapshot.time, hostname: snapshot.hostname, paths: snapshot.paths, hits: matches.length, matches: matches.map(matchJson) });
        }
        out.line(total === 0 ? `no match in ${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"}` : `${total} match${total === 1 ? "" : "es"} in ${holding} of ${snapshots.length} snapshots`);
      });
    });
}

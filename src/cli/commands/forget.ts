import type { Command } from "commander";
import { describeGroupKey, planForget, removeSnapshots, type ForgetPlan } from "../../prune/forget.js";
import { parseRetentionDuration } from "../../prune/duration.js";
import { parseKeepCount } from "../../prune/keep-count.js";
import { describeRetentionPolicy, isEmptyPolicy, parseTagList, type RetentionPolicy } from "../../prune/retention-policy.js";
import { parseGroupBy } from "../../prune/snapshot-grouping.js";
import { shortId, type Id } from "../../store/id.js";
import { listSnapshots, unreadableSnapshotWarning } from "../../store/snapshot/snapshot-store.js";
import type { StoredSnapshot } from "../../store/snapshot/snapshot.js";
import type { Backend } from "../../store/backend/backend.js";
import { commandContext } from "../command-context.js";
import type { Output } from "../output.js";
import { collect } from "../parse-options.js";
import { withBackend, withRepository } from "../repository-session.js";
import { snapshotFilter } from "../snapshot-options.js";
import { localTime } from "../../platform/local-time.js";
import { formatTable } from "../table.js";
import { addPruneOptions, pruneSettings, runPrune, type PruneFlags } from "./prune.js";

interface ForgetFlags extends PruneFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  keepTag: string[];
  groupBy: string;
  host: string[];
  tag: string[];
  path: string[];
  prune: boolean;
  unsafeAllowRemoveAll: boolean;
}

const COUNTS = [
  ["last", "keepLast"],
  ["hourly", "keepHourly"],
  ["daily", "keepDaily"],
  ["weekly", "keepWeekly"],
  ["monthly", "keepMonthly"],
  ["yearly", "keepYearly"],
] as const;

const DURATIONS = [
  ["within", "keepWithin"],
  ["withinHourly", "keepWithinHourly"],
  ["withinDaily", "keepWithinDaily"],
  ["withinWeekly", "keepWithinWeekly"],
  ["withinMonthly", "keepWithinMonthly"],
  ["withinYearly", "keepWithinYearly"],
] as const;

function policyFrom(flags: ForgetFlags): RetentionPolicy {
  const policy: RetentionPolicy = {};
  for (const [field, flag] of COUNTS) {
    const value = flags[flag];
    if (value !== undefined) policy[field] = parseKeepCount(value);
  }
  for (const [field, flag] of DURATIONS) {
    const value = flags[flag];
    if (value !== undefined) policy[field] = parseRetentionDuration(value);
  }
  if (flags.keepTag.length > 0) policy.keepTags = flags.keepTag.map(parseTagList);
  return policy;
}

function snapshotRecord(s: StoredSnapshot, reasons?: string[]): Record<string, unknown> {
  return { id: s.id, short_id: shortId(s.id), time: s.time, hostname: s.hostname, paths: s.paths, tags: s.tags, ...(reasons ? { reasons } : {}) };
}

function plural(n: number): string {
  return `${n} snapshot${n === 1 ? "" : "s"}`;
}

function reportPlan(out: Output, plan: ForgetPlan, showKept: boolean): void {
  for (const group of plan.groups) {
    const key = describeGroupKey(group.key);
    if (key) out.line(`snapshots of ${key}:`);
    if (showKept) {
      out.line(`keep ${plural(group.keep.length)}:`);
      const rows = group.keep.map(({ snapshot: s, reasons }) => [shortId(s.id), localTime(s.time), s.hostname, s.tags.join(","), reasons.join(", "), s.paths.join(", ")]);
      if (rows.length > 0) out.line(formatTable(["ID", "Time", "Host", "Tags", "Reasons", "Paths"], rows));
    }
    out.line(`remove ${plural(group.remove.length)}:`);
    const rows = group.remove.map((s) => [shortId(s.id), localTime(s.time), s.hostname, s.tags.join(","), s.paths.join(", ")]);
    if (rows.length > 0) out.line(formatTable(["ID", "Time", "Host", "Tags", "Paths"], rows));
    out.line("");
    out.record({
      message_type: "group",
      group: { hostname: group.key.hostname, paths: group.key.paths, tags: group.key.tags },
      keep: group.keep.map((k) => snapshotRecord(k.snapshot, k.reasons)),
      remove: group.remove.map((s) => snapshotRecord(s)),
    });
  }
}

export function registerForget(program: Command): void {
  const command = program
    .command("forget")
    .description("remove snapshots: those named, or those a retention policy does not keep (then run prune, or pass --prune, to free the space)")
    .argument("[snapshots...]", "snapshot ids, unique prefixes or latest: remove exactly these")
    .option("-l, --keep-last <n>", "keep the n newest snapshots (n or unlimited)")
    .option("-H, --keep-hourly <n>", "keep the newest snapshot of each of the n newest hours that have one")
    .option("-d, --keep-daily <n>", "keep the newest snapshot of each of the n newest days that have one")
    .option("-w, --keep-weekly <n>", "keep the newest snapshot of each of the n newest ISO weeks that have one")
    .option("-m, --keep-monthly <n>", "keep the newest snapshot of each of the n newest months that have one")
    .option("-y, --keep-yearly <n>", "keep the newest snapshot of each of the n newest years that have one")
    .option("--keep-within <duration>", "keep every snapshot taken within this long (e.g. 1y5m7d2h) of the newest")
    .option("--keep-within-hourly <duration>", "keep the newest snapshot of each hour within this long of the newest")
    .option("--keep-within-daily <duration>", "keep the newest snapshot of each day within this long of the newest")
    .option("--keep-within-weekly <duration>", "keep the newest snapshot of each week within this long of the newest")
    .option("--keep-within-monthly <duration>", "keep the newest snapshot of each month within this long of the newest")
    .option("--keep-within-yearly <duration>", "keep the newest snapshot of each year within this long of the newest")
    .option("--keep-tag <tags>", "keep snapshots that have all these comma-separated tags (repeatable: any of the sets)", collect, [])
    .option("-g, --group-by <fields>", 'apply the policy to each group of snapshots sharing these fields: host, paths, tags (comma-separated; "" for one group)', "host,paths")
    .option("--host <name>", "only consider snapshots of this host (repeatable)", collect, [])
    .option("--tag <tags>", "only consider snapshots with these comma-separated tags (repeatable: any of the sets)", collect, [])
    .option("--path <path>", "only consider snapshots that include this path (repeatable)", collect, [])
    .option("-n, --dry-run", "show what would be kept (and why) and removed; change nothing", false)
    .option("--prune", "run prune afterwards, to free the space the removed snapshots held", false)
    .option("--unsafe-allow-remove-all", "allow removing every snapshot of a group (with no --keep-* option: every snapshot that passes the filters)", false);
  addPruneOptions(command).action(async (ids: string[], flags: ForgetFlags, cmd: Command) => {
    const { globals, out } = commandContext(cmd);
    const policy = policyFrom(flags);
    const request = {
      ids,
      policy,
      groupBy: parseGroupBy(flags.groupBy),
      filter: snapshotFilter({ host: flags.host, tag: flags.tag, path: flags.path }),
      allowRemoveAll: flags.unsafeAllowRemoveAll,
    };
    // Checked even without --prune: a mistyped value must not pass for a while, unnoticed.
    const checked = pruneSettings(flags);
    const settings = flags.prune ? checked : undefined;
    const lock = flags.dryRun ? "read" : "exclusive";

    const forget = async (backend: Backend): Promise<ForgetPlan> => {
      const unreadable: Id[] = [];
      const snapshots = await listSnapshots(backend, (id, err) => {
        unreadable.push(id);
        out.warn(unreadableSnapshotWarning(id, err));
      });
      const plan = planForget(snapshots, request, unreadable);
      if (ids.length === 0 && !isEmptyPolicy(policy)) out.line(`applying policy: ${describeRetentionPolicy(policy)}`);
      reportPlan(out, plan, ids.length === 0);
      for (const id of plan.removeUnreadable) out.line(`${flags.dryRun ? "would remove" : "remove"} unreadable snapshot ${shortId(id)}`);
      if (!flags.dryRun) {
        await removeSnapshots(backend, plan.remove);
        for (const id of plan.removeUnreadable) await backend.delete(`snapshots/${id}`);
      }
      const kept = plan.groups.reduce((n, g) => n + g.keep.length, 0);
      const removed = plan.remove.length + plan.removeUnreadable.length;
      out.line(flags.dryRun ? `would remove ${plural(removed)} (dry run: nothing was changed)` : `removed ${plural(removed)}`);
      out.record({ message_type: "forget_summary", dry_run: flags.dryRun, kept: kept, removed });
      return plan;
    };

    if (!settings) {
      await withBackend(globals, out, lock, forget);
      return;
    }
    await withRepository(globals, out, lock, async (repo) => {
      const plan = await forget(repo.backend);
      const removed = new Set(plan.remove.map((s) => s.id));
      await runPrune(repo, out, settings, flags.dryRun, removed);
    });
  });
}

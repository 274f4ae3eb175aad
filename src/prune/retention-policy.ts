import { IntegrityError, UsageError } from "../errors.js";
import { calendarFor, isoWeek, type CivilTime } from "./calendar.js";
import { formatRetentionDuration, isZeroDuration, subtractDuration, type RetentionDuration } from "./duration.js";
import { formatKeepCount, isKeepCount, type KeepCount } from "./keep-count.js";

/**
 * What `cairn forget` keeps, following restic's `forget` options. Every field is optional; a
 * snapshot is kept when any rule keeps it. Counts are non-negative integers or Infinity
 * ("unlimited"); 0 and zero durations mean "rule not given", as in restic.
 */
export interface RetentionPolicy {
  /** --keep-last: the N newest snapshots. */
  last?: KeepCount;
  /** --keep-hourly|daily|weekly|monthly|yearly: the newest snapshot of each of the N newest
   * hours/days/ISO weeks/months/years that hold a snapshot. */
  hourly?: KeepCount;
  daily?: KeepCount;
  weekly?: KeepCount;
  monthly?: KeepCount;
  yearly?: KeepCount;
  /** --keep-within: every snapshot newer than the newest snapshot minus this duration. */
  within?: RetentionDuration;
  /** --keep-within-hourly etc.: the newest snapshot of each hour/day/... within the duration. */
  withinHourly?: RetentionDuration;
  withinDaily?: RetentionDuration;
  withinWeekly?: RetentionDuration;
  withinMonthly?: RetentionDuration;
  withinYearly?: RetentionDuration;
  /**
   * --keep-tag, one list per option (`--keep-tag a,b` is ["a", "b"], see parseTagList): a
   * snapshot is kept when it has every tag of at least one list. The tag "" stands for
   * "has no tags at all", so [""] keeps untagged snapshots.
   */
  keepTags?: readonly (readonly string[])[];
}

/** The part of a snapshot the policy looks at. */
export interface PolicySnapshot {
  readonly id: string;
  readonly time: Date;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

export interface KeptSnapshot<T extends PolicySnapshot = PolicySnapshot> {
  snapshot: T;
  /** Every rule that keeps it, e.g. "daily snapshot", "monthly within 1y", "has tags [prod]". */
  reasons: string[];
}

/** Both lists are ordered newest first. */
export interface PolicyDecision<T extends PolicySnapshot = PolicySnapshot> {
  keep: KeptSnapshot<T>[];
  remove: T[];
}

export interface PolicyOptions {
  /** IANA zone ("Europe/Paris") or "UTC" for hour/day/week/month/year boundaries and
   * calendar arithmetic on durations; default: the process's local zone, like restic. */
  timeZone?: string;
  /** Snapshots dated after this do not count as "the newest" for durations (clock skew),
   * like restic; default: the current time. */
  now?: Date;
}

type Period = "hourly" | "daily" | "weekly" | "monthly" | "yearly";

const PERIODS: readonly {
  period: Period;
  within: "withinHourly" | "withinDaily" | "withinWeekly" | "withinMonthly" | "withinYearly";
  bucket: (c: CivilTime) => number;
}[] = [
  { period: "hourly", within: "withinHourly", bucket: (c) => ((c.year * 100 + c.month) * 100 + c.day) * 100 + c.hour },
  { period: "daily", within: "withinDaily", bucket: (c) => (c.year * 100 + c.month) * 100 + c.day },
  {
    period: "weekly",
    within: "withinWeekly",
    bucket: (c) => {
      const { year, week } = isoWeek(c);
      return year * 100 + week;
    },
  },
  { period: "monthly", within: "withinMonthly", bucket: (c) => c.year * 100 + c.month },
  { period: "yearly", within: "withinYearly", bucket: (c) => c.year },
];

const COUNT_FIELDS = ["last", ...PERIODS.map((p) => p.period)] as const;
const DURATION_FIELDS = ["within", ...PERIODS.map((p) => p.within)] as const;

/** True when no rule is given; applying such a policy keeps everything (the CLI refuses it). */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return (
    COUNT_FIELDS.every((field) => !policy[field]) &&
    DURATION_FIELDS.every((field) => policy[field] === undefined || isZeroDuration(policy[field])) &&
    (policy.keepTags ?? []).length === 0
  );
}

/**
 * Splits policy over one group of snapshots (see groupSnapshots) into kept and removed ones.
 * Going from newest to oldest, each count rule keeps a snapshot whose bucket differs from the
 * bucket it kept last, until it has used its N buckets; each `within*` rule does the same for
 * snapshots inside its duration, without a limit. Like restic, while a rule still has buckets
 * left (or is a `within*` rule covering it), the group's oldest snapshot is kept too, as
 * "oldest daily snapshot" etc., so the history reaches back as far as the policy allows.
 * Equal times are ordered by id, so the result does not depend on the input's order.
 */
export function applyRetentionPolicy<T extends PolicySnapshot>(
  snapshots: readonly T[],
  policy: RetentionPolicy,
  opts: PolicyOptions = {},
): PolicyDecision<T> {
  validatePolicy(policy);
  for (const snapshot of snapshots) {
    if (Number.isNaN(snapshot.time.getTime())) throw new IntegrityError(`snapshot ${snapshot.id} has an invalid time`);
  }
  const sorted = [...snapshots].sort(newestFirst);
  if (isEmptyPolicy(policy)) return { keep: sorted.map((snapshot) => ({ snapshot, reasons: ["policy is empty"] })), remove: [] };

  const calendar = calendarFor(opts.timeZone);
  const rules = buildRules(policy, newestBefore(sorted, opts.now ?? new Date()), opts.timeZone);
  const decision: PolicyDecision<T> = { keep: [], remove: [] };
  sorted.forEach((snapshot, index) => {
    const civil = calendar.fields(snapshot.time);
    const oldest = index === sorted.length - 1;
    // Every rule sees every snapshot: the calendar rules track the last bucket they kept.
    const reasons = rules.flatMap((rule) => rule(snapshot, civil, oldest) ?? []);
    if (reasons.length > 0) decision.keep.push({ snapshot, reasons });
    else decision.remove.push(snapshot);
  });
  return decision;
}

/** Splits a `--keep-tag` value: "a,b" means "has a and b". */
export function parseTagList(text: string): string[] {
  return text.split(",").map((tag) => tag.trim());
}

/** One line for the CLI, e.g. "keep 30 daily, 12 monthly snapshots and all snapshots with tags [prod]". */
export function describeRetentionPolicy(policy: RetentionPolicy): string {
  const parts: string[] = [];
  const counts = COUNT_FIELDS.flatMap((field) => {
    const count = policy[field];
    return count ? [`${formatKeepCount(count)} ${field === "last" ? "latest" : field}`] : [];
  });
  if (counts.length > 0) parts.push(`${counts.join(", ")} snapshots`);
  for (const { period, within } of PERIODS) {
    const duration = policy[within];
    if (duration && !isZeroDuration(duration)) parts.push(`${period} snapshots within ${formatRetentionDuration(duration)}`);
  }
  for (const tags of policy.keepTags ?? []) parts.push(`all snapshots with tags ${formatTags(tags)}`);
  if (policy.within && !isZeroDuration(policy.within)) {
    parts.push(`all snapshots within ${formatRetentionDuration(policy.within)} of the newest`);
  }
  return parts.length === 0 ? "keep everything (empty policy)" : `keep ${parts.join(" and ")}`;
}

/** A rule returns why it keeps the snapshot, or undefined; it sees the snapshots newest first. */
type Rule = (snapshot: PolicySnapshot, civil: CivilTime, oldest: boolean) => string | undefined;

function buildRules(policy: RetentionPolicy, newest: Date | undefined, timeZone: string | undefined): Rule[] {
  const rules: Rule[] = [];
  for (const tags of policy.keepTags ?? []) {
    rules.push((snapshot) => (hasAllTags(snapshot, tags) ? `has tags ${formatTags(tags)}` : undefined));
  }

  const withinRule = (duration: RetentionDuration | undefined) => {
    if (duration === undefined || isZeroDuration(duration)) return undefined;
    const threshold = newest === undefined ? NaN : subtractDuration(newest, duration, timeZone).getTime();
    // No usable newest snapshot, or a limit before the earliest Date: everything is within.
    const isWithin = (time: Date) => Number.isNaN(threshold) || time.getTime() > threshold;
    return { isWithin, label: formatRetentionDuration(duration) };
  };

  const within = withinRule(policy.within);
  if (within) rules.push((snapshot) => (within.isWithin(snapshot.time) ? `within ${within.label}` : undefined));

  let lastLeft = policy.last ?? 0;
  if (lastLeft > 0) {
    rules.push(() => {
      if (lastLeft === 0) return undefined;
      lastLeft--;
      return "last snapshot";
    });
  }

  for (const { period, bucket } of PERIODS) {
    let left = policy[period] ?? 0;
    if (left === 0) continue;
    const keepBucket = bucketKeeper(bucket);
    rules.push((_snapshot, civil, oldest) => {
      if (left === 0) return undefined;
      const kept = keepBucket(civil, oldest);
      if (kept === undefined) return undefined;
      if (kept === "new bucket") left--;
      return `${kept === "oldest" ? "oldest " : ""}${period} snapshot`;
    });
  }

  for (const { period, within: field, bucket } of PERIODS) {
    const periodWithin = withinRule(policy[field]);
    if (!periodWithin) continue;
    const keepBucket = bucketKeeper(bucket);
    rules.push((snapshot, civil, oldest) => {
      if (!periodWithin.isWithin(snapshot.time)) return undefined;
      const kept = keepBucket(civil, oldest);
      if (kept === undefined) return undefined;
      return `${kept === "oldest" ? "oldest " : ""}${period} within ${periodWithin.label}`;
    });
  }
  return rules;
}

/** Decides, for snapshots offered newest first, which start a new bucket. */
function bucketKeeper(bucketOf: (c: CivilTime) => number) {
  let lastKept: number | undefined;
  return (civil: CivilTime, oldest: boolean): "new bucket" | "oldest" | undefined => {
    const bucket = bucketOf(civil);
    if (bucket !== lastKept) {
      lastKept = bucket;
      return "new bucket";
    }
    return oldest ? "oldest" : undefined;
  };
}

function hasAllTags(snapshot: PolicySnapshot, tags: readonly string[]): boolean {
  return tags.every((tag) => (tag === "" ? snapshot.tags.length === 0 : snapshot.tags.includes(tag)));
}

function formatTags(tags: readonly string[]): string {
  return `[${tags.join(", ")}]`;
}

/** At equal times the larger id counts as newer, as in the listing order `latest` takes its last from. */
function newestFirst(a: PolicySnapshot, b: PolicySnapshot): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The reference point of every duration; restic ignores snapshots dated in the future. */
function newestBefore(sorted: readonly PolicySnapshot[], now: Date): Date | undefined {
  return sorted.find((snapshot) => snapshot.time.getTime() < now.getTime())?.time;
}

function validatePolicy(policy: RetentionPolicy): void {
  for (const field of COUNT_FIELDS) {
    const count = policy[field];
    if (count !== undefined && !isKeepCount(count)) {
      throw new UsageError(`invalid retention policy: ${field} must be a non-negative integer or Infinity, not ${count}`);
    }
  }
  for (const field of DURATION_FIELDS) {
    const duration = policy[field];
    if (duration === undefined) continue;
    for (const unit of ["years", "months", "days", "hours"] as const) {
      const value = duration[unit];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new UsageError(`invalid retention policy: ${field}.${unit} must be a non-negative integer, not ${value}`);
      }
    }
  }
}

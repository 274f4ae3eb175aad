import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { planForget, type ForgetRequest } from "../../src/prune/forget.js";
import { applyRetentionPolicy, type RetentionPolicy } from "../../src/prune/retention-policy.js";
import { DEFAULT_GROUP_BY, groupSnapshots, parseGroupBy } from "../../src/prune/snapshot-grouping.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";

const UTC = { timeZone: "UTC", now: new Date("2100-01-01T00:00:00Z") };

function snap(time: string, extra: Partial<StoredSnapshot> = {}): StoredSnapshot {
  const base = { time: new Date(`${time}Z`).toISOString(), hostname: "web", paths: ["/srv"], tags: [] as string[], ...extra };
  const id = createHash("sha256").update(JSON.stringify(base)).digest("hex");
  return { id, tree: "0".repeat(64), username: "root", programVersion: "test", ...base };
}

function request(extra: Partial<ForgetRequest>): ForgetRequest {
  return { ids: [], policy: {}, groupBy: DEFAULT_GROUP_BY, filter: {}, allowRemoveAll: false, policyOptions: UTC, ...extra };
}

const ids = (list: readonly StoredSnapshot[]) => list.map((s) => s.id).sort();

describe("planForget", () => {
  const daily = ["2024-03-01T02:00", "2024-03-02T02:00", "2024-03-03T02:00", "2024-03-04T02:00"].map((t) => snap(t));
  const otherHost = ["2024-03-01T03:00", "2024-03-04T03:00"].map((t) => snap(t, { hostname: "db" }));
  const all = [...daily, ...otherHost];

  it("applies the policy to each host and path set separately by default, with the reasons", () => {
    const plan = planForget(all, request({ policy: { last: 1 } }));
    expect(plan.groups.map((g) => g.key)).toEqual([
      { hostname: "db", paths: ["/srv"] },
      { hostname: "web", paths: ["/srv"] },
    ]);
    expect(plan.groups.map((g) => g.keep.map((k) => [k.snapshot.id, k.reasons]))).toEqual([
      [[otherHost[1]!.id, ["last snapshot"]]],
      [[daily[3]!.id, ["last snapshot"]]],
    ]);
    expect(ids(plan.remove)).toEqual(ids([daily[0]!, daily[1]!, daily[2]!, otherHost[0]!]));
  });

  it("treats everything as one group with --group-by ''", () => {
    const plan = planForget(all, request({ policy: { last: 1 }, groupBy: parseGroupBy("") }));
    expect(plan.groups).toHaveLength(1);
    expect(plan.groups[0]!.keep.map((k) => k.snapshot.id)).toEqual([otherHost[1]!.id]);
    expect(plan.remove).toHaveLength(5);
  });

  it("never touches snapshots that the filters leave out", () => {
    const plan = planForget(all, request({ policy: { last: 1 }, filter: { hosts: ["db"] } }));
    expect(ids(plan.remove)).toEqual([otherHost[0]!.id]);
    expect(plan.groups.map((g) => g.key.hostname)).toEqual(["db"]);
  });

  it("refuses a policy that would empty a group, unless explicitly allowed", () => {
    const tagged = [...daily.slice(0, 2).map((s) => snap(s.time.slice(0, 16), { tags: ["keep"] })), ...otherHost];
    const policy: RetentionPolicy = { keepTags: [["keep"]] };
    expect(() => planForget(tagged, request({ policy }))).toThrow(/every snapshot of the group host \[db\], paths \[\/srv\]; nothing was removed/);
    const allowed = planForget(tagged, request({ policy, allowRemoveAll: true }));
    expect(ids(allowed.remove)).toEqual(ids(otherHost));
  });

  it("refuses an empty policy; allowed, it removes every snapshot that passes the filters", () => {
    expect(() => planForget(all, request({}))).toThrow(UsageError);
    const plan = planForget(all, request({ allowRemoveAll: true, filter: { hosts: ["web"] } }));
    expect(ids(plan.remove)).toEqual(ids(daily));
  });

  it("removes exactly the snapshots named by id or prefix, and no others", () => {
    const plan = planForget(all, request({ ids: [daily[1]!.id, otherHost[0]!.id.slice(0, 10)] }));
    expect(ids(plan.remove)).toEqual(ids([daily[1]!, otherHost[0]!]));
    expect(plan.groups.every((g) => g.keep.length === 0)).toBe(true);
  });

  it("refuses ids together with a policy, unknown ids, and ids that name every snapshot", () => {
    expect(() => planForget(all, request({ ids: [daily[0]!.id], policy: { last: 1 } }))).toThrow(/either snapshot ids or --keep-\* options/);
    expect(() => planForget(all, request({ ids: ["abcdef0123"] }))).toThrow(/no snapshot with id/);
    expect(() => planForget(daily, request({ ids: daily.map((s) => s.id) }))).toThrow(/every snapshot in the repository/);
    expect(planForget(daily, request({ ids: daily.map((s) => s.id), allowRemoveAll: true })).remove).toHaveLength(4);
  });
});

describe("planForget properties", () => {
  const hours = 24 * 400;
  const snapshotArb = fc.record({
    hour: fc.integer({ min: 0, max: hours }),
    host: fc.constantFrom("a", "b"),
    path: fc.constantFrom("/x", "/y"),
    tags: fc.subarray(["prod", "db"]),
  });
  const count = fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined });
  const duration = fc.option(fc.record({ years: fc.constant(0), months: fc.integer({ min: 0, max: 3 }), days: fc.integer({ min: 0, max: 40 }), hours: fc.constant(0) }), { nil: undefined });
  const policyArb = fc.record(
    {
      last: count,
      hourly: count,
      daily: count,
      weekly: count,
      monthly: count,
      yearly: count,
      within: duration,
      withinDaily: duration,
      withinMonthly: duration,
      keepTags: fc.option(fc.constant([["prod"]]), { nil: undefined }),
    },
    { requiredKeys: [] },
  );

  it("never removes a snapshot that some rule of the policy keeps, nor one outside the filter", () => {
    fc.assert(
      fc.property(fc.array(snapshotArb, { minLength: 1, maxLength: 30 }), policyArb, fc.constantFrom(undefined, "a"), (raw, policy, host) => {
        const start = Date.parse("2023-01-01T00:00:00Z");
        const snapshots = raw.map((r, i) =>
          snap(new Date(start + r.hour * 3_600_000 + i * 1000).toISOString().slice(0, 19), { hostname: r.host, paths: [r.path], tags: r.tags }),
        );
        const filter = host ? { hosts: [host] } : {};
        const plan = planForget(snapshots, request({ policy, filter, allowRemoveAll: true }));
        const removed = new Set(plan.remove.map((s) => s.id));
        for (const s of snapshots) if (host && s.hostname !== host) expect(removed.has(s.id)).toBe(false);
        // Each rule alone, applied to each group: whatever it keeps must survive the combined policy.
        const considered = snapshots.filter((s) => !host || s.hostname === host);
        const views = considered.map((s) => ({ id: s.id, time: new Date(s.time), hostname: s.hostname, paths: s.paths, tags: s.tags }));
        for (const [field, value] of Object.entries(policy)) {
          if (value === undefined) continue;
          const single = { [field]: value } as RetentionPolicy;
          for (const group of groupSnapshots(views, DEFAULT_GROUP_BY)) {
            for (const kept of applyRetentionPolicy(group.snapshots, single, UTC).keep) {
              if (kept.reasons[0] === "policy is empty") continue;
              expect(removed.has(kept.snapshot.id)).toBe(false);
            }
          }
        }
        // Kept and removed split the considered snapshots exactly.
        const kept = plan.groups.flatMap((g) => g.keep.map((k) => k.snapshot.id));
        expect([...kept, ...removed].sort()).toEqual(considered.map((s) => s.id).sort());
      }),
      { numRuns: 300 },
    );
  });
});

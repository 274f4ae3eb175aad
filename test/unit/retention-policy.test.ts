import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { isoWeek } from "../../src/prune/calendar.js";
import { parseKeepCount } from "../../src/prune/keep-count.js";
import {
  applyRetentionPolicy,
  describeRetentionPolicy,
  isEmptyPolicy,
  parseTagList,
  type PolicyDecision,
  type PolicyOptions,
  type PolicySnapshot,
  type RetentionPolicy,
} from "../../src/prune/retention-policy.js";
import { DEFAULT_GROUP_BY, groupSnapshots, parseGroupBy } from "../../src/prune/snapshot-grouping.js";

/** A snapshot named by its UTC time ("2021-01-01T10:00") unless an id is given. */
function snap(time: string, extra: Partial<PolicySnapshot> = {}): PolicySnapshot {
  return { id: time, time: new Date(`${time}Z`), hostname: "host", paths: ["/data"], tags: [], ...extra };
}

const UTC: PolicyOptions = { timeZone: "UTC", now: new Date("2100-01-01T00:00:00Z") };

function apply(snapshots: readonly PolicySnapshot[], policy: RetentionPolicy, opts: PolicyOptions = UTC) {
  return applyRetentionPolicy(snapshots, policy, opts);
}

const kept = (decision: PolicyDecision) => decision.keep.map((k) => k.snapshot.id);
const removed = (decision: PolicyDecision) => decision.remove.map((s) => s.id);
const reasons = (decision: PolicyDecision) => Object.fromEntries(decision.keep.map((k) => [k.snapshot.id, k.reasons]));
const days = (from: string, count: number, at = "02:00") =>
  Array.from({ length: count }, (_, i) => {
    const day = new Date(Date.parse(`${from}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10);
    return snap(`${day}T${at}`, { id: day });
  });

describe("keep-last", () => {
  const snapshots = ["2021-01-01T10:00", "2021-01-01T11:00", "2021-01-02T09:00", "2021-01-05T00:00", "2021-01-05T00:01"].map(
    (t) => snap(t),
  );

  it("keeps the N newest, newest first", () => {
    const decision = apply(snapshots, { last: 3 });
    expect(kept(decision)).toEqual(["2021-01-05T00:01", "2021-01-05T00:00", "2021-01-02T09:00"]);
    expect(removed(decision)).toEqual(["2021-01-01T11:00", "2021-01-01T10:00"]);
    expect(decision.keep.every((k) => k.reasons.join() === "last snapshot")).toBe(true);
  });

  it("keeps everything when unlimited or larger than the group", () => {
    expect(removed(apply(snapshots, { last: Infinity }))).toEqual([]);
    expect(removed(apply(snapshots, { last: 10 }))).toEqual([]);
  });

  it("breaks ties between equal times by id, whatever the input order, keeping the one `latest` names", () => {
    // The listing sorts equal times by id and `latest` takes the last: the larger id is the newer.
    const twins = [snap("2021-01-01T10:00", { id: "b" }), snap("2021-01-01T10:00", { id: "a" })];
    expect(kept(apply(twins, { last: 1 }))).toEqual(["b"]);
    expect(kept(apply([...twins].reverse(), { last: 1 }))).toEqual(["b"]);
  });
});

describe("calendar buckets", () => {
  it("keep-daily: restic's example of 12 Sundays keeps the last four", () => {
    const sundays = Array.from({ length: 12 }, (_, i) =>
      snap(new Date(Date.UTC(2019, 8, 1 + 7 * i, 11)).toISOString().slice(0, 16)),
    );
    const decision = apply(sundays, { daily: 4 });
    expect(kept(decision)).toEqual(["2019-11-17T11:00", "2019-11-10T11:00", "2019-11-03T11:00", "2019-10-27T11:00"]);
    expect(decision.keep.every((k) => k.reasons.join() === "daily snapshot")).toBe(true);
  });

  it("keep-daily: the newest of each day; days without snapshots use no bucket", () => {
    const snapshots = [
      "2021-01-01T08:00",
      "2021-01-01T20:00",
      "2021-01-02T01:00",
      "2021-01-02T23:59",
      "2021-01-05T12:00",
      "2021-01-09T00:00",
      "2021-01-09T06:00",
      "2021-01-09T07:00",
    ].map((t) => snap(t));
    expect(kept(apply(snapshots, { daily: 3 }))).toEqual(["2021-01-09T07:00", "2021-01-05T12:00", "2021-01-02T23:59"]);
  });

  it("keep-hourly: hours are :00 to :59", () => {
    const snapshots = ["2021-01-01T10:05", "2021-01-01T10:40", "2021-01-01T11:10", "2021-01-01T11:59", "2021-01-01T13:00"].map(
      (t) => snap(t),
    );
    const decision = apply(snapshots, { hourly: 2 });
    expect(kept(decision)).toEqual(["2021-01-01T13:00", "2021-01-01T11:59"]);
    expect(reasons(decision)["2021-01-01T13:00"]).toEqual(["hourly snapshot"]);
  });

  it("keep-weekly: ISO weeks run Monday to Sunday and cross the year boundary", () => {
    const snapshots = [
      "2020-12-27T12:00", // Sunday, 2020-W52
      "2020-12-28T12:00", // Monday, 2020-W53
      "2020-12-31T12:00", // Thursday, 2020-W53
      "2021-01-01T12:00", // Friday, still 2020-W53
      "2021-01-03T23:00", // Sunday, still 2020-W53
      "2021-01-04T00:30", // Monday, 2021-W01
    ].map((t) => snap(t));
    expect(kept(apply(snapshots, { weekly: 2 }))).toEqual(["2021-01-04T00:30", "2021-01-03T23:00"]);
    expect(kept(apply(snapshots, { weekly: 3 }))).toEqual(["2021-01-04T00:30", "2021-01-03T23:00", "2020-12-27T12:00"]);
    // Without the Sunday, 2020-12-31 and 2021-01-01 still share week 2020-W53.
    const withoutSunday = snapshots.filter((s) => s.id !== "2021-01-03T23:00");
    expect(kept(apply(withoutSunday, { weekly: 2 }))).toEqual(["2021-01-04T00:30", "2021-01-01T12:00"]);
  });

  it("computes ISO week numbers", () => {
    const week = (year: number, month: number, day: number) => isoWeek({ year, month, day });
    expect(week(2020, 12, 31)).toEqual({ year: 2020, week: 53 });
    expect(week(2021, 1, 1)).toEqual({ year: 2020, week: 53 });
    expect(week(2021, 1, 3)).toEqual({ year: 2020, week: 53 });
    expect(week(2021, 1, 4)).toEqual({ year: 2021, week: 1 });
    expect(week(2019, 12, 30)).toEqual({ year: 2020, week: 1 });
    expect(week(2008, 12, 29)).toEqual({ year: 2009, week: 1 });
    expect(week(2010, 1, 3)).toEqual({ year: 2009, week: 53 });
    expect(week(2024, 6, 15)).toEqual({ year: 2024, week: 24 });
  });

  it("keep-monthly and keep-yearly skip empty months and years", () => {
    const snapshots = [
      "2018-05-01T00:00",
      "2020-01-03T00:00",
      "2020-01-20T00:00",
      "2020-03-09T00:00",
      "2020-06-30T23:59",
      "2020-07-01T00:00",
      "2020-07-02T00:00",
    ].map((t) => snap(t));
    expect(kept(apply(snapshots, { monthly: 3 }))).toEqual(["2020-07-02T00:00", "2020-06-30T23:59", "2020-03-09T00:00"]);
    expect(kept(apply(snapshots, { yearly: 2 }))).toEqual(["2020-07-02T00:00", "2018-05-01T00:00"]);
  });

  it("keeps the oldest snapshot too while a rule has buckets left (restic's 'oldest')", () => {
    const snapshots = ["2019-03-01T00:00", "2019-06-01T00:00", "2020-05-01T00:00"].map((t) => snap(t));
    expect(reasons(apply(snapshots, { yearly: 5 }))).toEqual({
      "2020-05-01T00:00": ["yearly snapshot"],
      "2019-06-01T00:00": ["yearly snapshot"],
      "2019-03-01T00:00": ["oldest yearly snapshot"],
    });
    // With every bucket used up by the time the oldest is reached, it goes.
    expect(removed(apply(snapshots, { yearly: 2 }))).toEqual(["2019-03-01T00:00"]);
    expect(reasons(apply(snapshots, { daily: Infinity }))["2019-03-01T00:00"]).toEqual(["daily snapshot"]);
  });

  it("buckets in the given time zone", () => {
    const snapshots = [
      "2021-01-02T03:00", // Jan 1, 22:00 in New York
      "2021-01-01T20:00", // Jan 1, 15:00 in New York
      "2020-12-30T12:00",
    ].map((t) => snap(t));
    expect(kept(apply(snapshots, { daily: 2 }))).toEqual(["2021-01-02T03:00", "2021-01-01T20:00"]);
    expect(kept(apply(snapshots, { daily: 2 }, { timeZone: "America/New_York" }))).toEqual([
      "2021-01-02T03:00",
      "2020-12-30T12:00",
    ]);
  });

  it("defaults to the local time zone", () => {
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const snapshots = Array.from({ length: 200 }, (_, i) => snap(`x${i}`, { time: new Date(Date.UTC(2021, 0, 1) + i * 7_919_000) }));
    const policy: RetentionPolicy = { hourly: 30, daily: 10, weekly: 2, withinDaily: { years: 0, months: 0, days: 3, hours: 5 } };
    expect(applyRetentionPolicy(snapshots, policy)).toEqual(applyRetentionPolicy(snapshots, policy, { timeZone: local }));
  });

  it("refuses an unknown time zone", () => {
    expect(() => apply([snap("2021-01-01T00:00")], { daily: 1 }, { timeZone: "Nowhere/Atlantis" })).toThrow(UsageError);
  });
});

describe("keep-tag", () => {
  const snapshots = [
    snap("2021-01-05T00:00", { tags: ["prod", "db"] }),
    snap("2021-01-04T00:00", { tags: ["prod"] }),
    snap("2021-01-03T00:00", { tags: ["db"] }),
    snap("2021-01-02T00:00", { tags: [] }),
    snap("2021-01-01T00:00", { tags: ["test"] }),
  ];

  it("keeps snapshots that have every tag of a list", () => {
    expect(kept(apply(snapshots, { keepTags: [["prod"]] }))).toEqual(["2021-01-05T00:00", "2021-01-04T00:00"]);
    expect(reasons(apply(snapshots, { keepTags: [["prod", "db"]] }))).toEqual({ "2021-01-05T00:00": ["has tags [prod, db]"] });
  });

  it("ORs several lists", () => {
    const decision = apply(snapshots, { keepTags: [["prod", "db"], ["test"]] });
    expect(kept(decision)).toEqual(["2021-01-05T00:00", "2021-01-01T00:00"]);
  });

  it("lets the empty tag stand for untagged snapshots", () => {
    expect(kept(apply(snapshots, { keepTags: [[""]] }))).toEqual(["2021-01-02T00:00"]);
  });

  it("parses a --keep-tag value as one list", () => {
    expect(parseTagList("prod, db")).toEqual(["prod", "db"]);
    expect(parseTagList("")).toEqual([""]);
  });
});

describe("keep-within", () => {
  const within = (text: string) => {
    const [, dd, hh] = /^(\d+)d(?:(\d+)h)?$/.exec(text)!;
    return { years: 0, months: 0, days: Number(dd), hours: Number(hh ?? 0) };
  };

  it("keeps what is strictly newer than the newest snapshot minus the duration", () => {
    const snapshots = ["2021-06-10T12:00", "2021-06-08T13:00", "2021-06-08T12:00", "2021-06-01T00:00"].map((t) => snap(t));
    const decision = apply(snapshots, { within: within("2d") });
    expect(kept(decision)).toEqual(["2021-06-10T12:00", "2021-06-08T13:00"]);
    expect(reasons(decision)["2021-06-10T12:00"]).toEqual(["within 2d"]);
  });

  it("measures from the newest snapshot, not from now", () => {
    const snapshots = ["2001-01-10T00:00", "2001-01-09T00:00", "2001-01-01T00:00"].map((t) => snap(t));
    expect(kept(apply(snapshots, { within: within("1d1h") }))).toEqual(["2001-01-10T00:00", "2001-01-09T00:00"]);
  });

  it("ignores snapshots dated in the future as the reference, but keeps them", () => {
    const snapshots = ["2021-06-20T00:00", "2021-06-09T12:00", "2021-06-07T13:00", "2021-06-07T11:00"].map((t) => snap(t));
    const now = new Date("2021-06-10T00:00:00Z");
    const decision = apply(snapshots, { within: within("2d") }, { timeZone: "UTC", now });
    expect(kept(decision)).toEqual(["2021-06-20T00:00", "2021-06-09T12:00", "2021-06-07T13:00"]);
  });

  it("subtracts calendar months", () => {
    const snapshots = ["2021-03-31T00:00", "2021-03-03T01:00", "2021-03-02T23:00"].map((t) => snap(t));
    // 2021-03-31 minus 1 month is "February 31", i.e. March 3.
    const decision = apply(snapshots, { within: { years: 0, months: 1, days: 0, hours: 0 } });
    expect(kept(decision)).toEqual(["2021-03-31T00:00", "2021-03-03T01:00"]);
    expect(reasons(decision)["2021-03-31T00:00"]).toEqual(["within 1m"]);
  });

  it("keep-within-daily keeps the newest of each day inside the duration", () => {
    const snapshots = [
      "2021-06-10T09:00",
      "2021-06-10T08:00",
      "2021-06-09T22:00",
      "2021-06-09T07:00",
      "2021-06-08T10:00",
      "2021-06-07T10:00",
      "2021-06-07T08:00",
      "2021-06-01T10:00",
    ].map((t) => snap(t));
    const decision = apply(snapshots, { withinDaily: within("3d") });
    expect(reasons(decision)).toEqual({
      "2021-06-10T09:00": ["daily within 3d"],
      "2021-06-09T22:00": ["daily within 3d"],
      "2021-06-08T10:00": ["daily within 3d"],
      "2021-06-07T10:00": ["daily within 3d"],
    });
  });

  it("keep-within-* keeps the oldest snapshot as well when it is inside the duration", () => {
    const snapshots = ["2021-06-10T09:00", "2021-06-09T22:00", "2021-06-09T07:00"].map((t) => snap(t));
    expect(reasons(apply(snapshots, { withinDaily: within("10d") }))).toEqual({
      "2021-06-10T09:00": ["daily within 10d"],
      "2021-06-09T22:00": ["daily within 10d"],
      "2021-06-09T07:00": ["oldest daily within 10d"],
    });
  });

  it("keep-within-weekly|monthly|yearly use their own buckets", () => {
    const snapshots = days("2020-01-01", 400);
    const year = { years: 1, months: 0, days: 0, hours: 0 };
    const ids = (policy: RetentionPolicy) => kept(apply(snapshots, policy));
    expect(ids({ withinMonthly: year })).toEqual([
      "2021-02-03", "2021-01-31", "2020-12-31", "2020-11-30", "2020-10-31", "2020-09-30",
      "2020-08-31", "2020-07-31", "2020-06-30", "2020-05-31", "2020-04-30", "2020-03-31", "2020-02-29",
    ]);
    expect(ids({ withinYearly: year })).toEqual(["2021-02-03", "2020-12-31"]);
    expect(ids({ withinWeekly: { years: 0, months: 0, days: 20, hours: 0 } })).toEqual([
      "2021-02-03", "2021-01-31", "2021-01-24", "2021-01-17",
    ]);
  });
});

describe("combined policies", () => {
  it("records every reason, in restic's order", () => {
    const snapshots = [
      snap("2021-06-13T20:00", { tags: ["prod"] }),
      snap("2021-06-13T08:00"),
      snap("2021-06-12T20:00"),
      snap("2021-06-01T20:00"),
    ];
    const decision = apply(snapshots, {
      last: 1,
      daily: 2,
      weekly: 1,
      within: { years: 0, months: 0, days: 1, hours: 0 },
      withinDaily: { years: 0, months: 0, days: 5, hours: 0 },
      keepTags: [["prod"]],
    });
    expect(reasons(decision)).toEqual({
      "2021-06-13T20:00": [
        "has tags [prod]",
        "within 1d",
        "last snapshot",
        "daily snapshot",
        "weekly snapshot",
        "daily within 5d",
      ],
      "2021-06-13T08:00": ["within 1d"],
      // Exactly 1d older than the newest, so not "within 1d".
      "2021-06-12T20:00": ["daily snapshot", "daily within 5d"],
    });
    expect(removed(decision)).toEqual(["2021-06-01T20:00"]);
  });

  it("Hop3: daily for 30 days and monthly for 12 months over a year of daily snapshots", () => {
    const year = days("2023-01-01", 366); // 2023-01-01 .. 2024-01-01
    const decision = apply(year, { daily: 30, monthly: 12 });
    const dailies = days("2023-12-03", 30).map((s) => s.id).reverse();
    const monthEnds = ["2023-11-30", "2023-10-31", "2023-09-30", "2023-08-31", "2023-07-31", "2023-06-30",
      "2023-05-31", "2023-04-30", "2023-03-31", "2023-02-28"];
    expect(kept(decision)).toEqual([...dailies, ...monthEnds]);
    expect(decision.remove).toHaveLength(366 - 40);
    expect(reasons(decision)["2024-01-01"]).toEqual(["daily snapshot", "monthly snapshot"]);
    expect(reasons(decision)["2023-12-31"]).toEqual(["daily snapshot", "monthly snapshot"]);
    expect(reasons(decision)["2023-12-30"]).toEqual(["daily snapshot"]);
    expect(reasons(decision)["2023-02-28"]).toEqual(["monthly snapshot"]);
  });
});

describe("empty and invalid policies", () => {
  const zero = { years: 0, months: 0, days: 0, hours: 0 };

  it("recognizes empty policies", () => {
    expect(isEmptyPolicy({})).toBe(true);
    expect(isEmptyPolicy({ last: 0, daily: 0, within: zero, withinDaily: zero, keepTags: [] })).toBe(true);
    expect(isEmptyPolicy({ yearly: 1 })).toBe(false);
    expect(isEmptyPolicy({ withinHourly: { ...zero, hours: 1 } })).toBe(false);
    expect(isEmptyPolicy({ keepTags: [["x"]] })).toBe(false);
  });

  it("keeps everything under an empty policy", () => {
    const snapshots = days("2021-01-01", 5);
    const decision = apply(snapshots, { daily: 0, within: zero });
    expect(kept(decision)).toEqual(snapshots.map((s) => s.id).reverse());
    expect(decision.keep[0]?.reasons).toEqual(["policy is empty"]);
    expect(decision.remove).toEqual([]);
  });

  it("accepts an empty group", () => {
    expect(apply([], { daily: 3, within: { ...zero, days: 1 } })).toEqual({ keep: [], remove: [] });
  });

  it.each([
    [{ daily: -1 }, /daily must be a non-negative integer or Infinity/],
    [{ last: 1.5 }, /last must be/],
    [{ monthly: NaN }, /monthly must be/],
    [{ within: { ...zero, days: -2 } }, /within.days must be a non-negative integer/],
  ])("refuses %j", (policy, why) => {
    expect(() => apply(days("2021-01-01", 2), policy)).toThrow(UsageError);
    expect(() => apply(days("2021-01-01", 2), policy)).toThrow(why);
  });

  it("describes a policy", () => {
    expect(describeRetentionPolicy({ daily: 30, monthly: 12 })).toBe("keep 30 daily, 12 monthly snapshots");
    expect(
      describeRetentionPolicy({
        last: Infinity,
        withinDaily: { ...zero, days: 7 },
        keepTags: [["prod", "db"]],
        within: { ...zero, years: 1 },
      }),
    ).toBe("keep unlimited latest snapshots and daily snapshots within 7d and all snapshots with tags [prod, db] and all snapshots within 1y of the newest");
  });
});

describe("parseKeepCount", () => {
  it("reads N and unlimited", () => {
    expect(parseKeepCount("0")).toBe(0);
    expect(parseKeepCount("30")).toBe(30);
    expect(parseKeepCount("unlimited")).toBe(Infinity);
    // restic's spelling of unlimited.
    expect(parseKeepCount("-1")).toBe(Infinity);
  });

  it.each([["-2", /use 'unlimited' \(or -1\) instead/], ["abc", /non-negative integer/], ["1.5", /non-negative/], ["", /non-negative/], [" 3", /non-negative/], ["99999999999999999999", /non-negative/]])(
    "refuses %j",
    (text, why) => {
      expect(() => parseKeepCount(text)).toThrow(UsageError);
      expect(() => parseKeepCount(text)).toThrow(why);
    },
  );
});

describe("grouping", () => {
  it("parses --group-by", () => {
    expect(parseGroupBy("host,paths")).toEqual(DEFAULT_GROUP_BY);
    expect(parseGroupBy("")).toEqual({ host: false, paths: false, tags: false });
    expect(parseGroupBy("tags")).toEqual({ host: false, paths: false, tags: true });
    expect(parseGroupBy("hosts, path,tag")).toEqual({ host: true, paths: true, tags: true });
    expect(() => parseGroupBy("host,user")).toThrow(UsageError);
    expect(() => parseGroupBy("host,user")).toThrow(/unknown --group-by field "user"/);
  });

  const snapshots = [
    snap("2021-01-01T00:00", { id: "a1", hostname: "alpha", paths: ["/etc", "/home"], tags: ["x"] }),
    snap("2021-01-02T00:00", { id: "a2", hostname: "alpha", paths: ["/home", "/etc"], tags: [] }),
    snap("2021-01-03T00:00", { id: "a3", hostname: "alpha", paths: ["/srv"], tags: ["x"] }),
    snap("2021-01-04T00:00", { id: "b1", hostname: "beta", paths: ["/etc", "/home"], tags: ["y", "x"] }),
    snap("2021-01-05T00:00", { id: "b2", hostname: "beta", paths: ["/etc", "/home"], tags: ["x", "y"] }),
  ];
  const summary = (groupBy: string) =>
    groupSnapshots(snapshots, parseGroupBy(groupBy)).map((g) => [g.key, g.snapshots.map((s) => s.id)]);

  it("groups by host and paths by default, comparing paths as sorted lists", () => {
    expect(summary("host,paths")).toEqual([
      [{ hostname: "alpha", paths: ["/etc", "/home"] }, ["a1", "a2"]],
      [{ hostname: "alpha", paths: ["/srv"] }, ["a3"]],
      [{ hostname: "beta", paths: ["/etc", "/home"] }, ["b1", "b2"]],
    ]);
  });

  it("groups by any subset of fields, or not at all", () => {
    expect(summary("tags")).toEqual([
      [{ tags: [] }, ["a2"]],
      [{ tags: ["x"] }, ["a1", "a3"]],
      [{ tags: ["x", "y"] }, ["b1", "b2"]],
    ]);
    expect(summary("paths")).toEqual([
      [{ paths: ["/etc", "/home"] }, ["a1", "a2", "b1", "b2"]],
      [{ paths: ["/srv"] }, ["a3"]],
    ]);
    expect(summary("")).toEqual([[{}, ["a1", "a2", "a3", "b1", "b2"]]]);
  });

  it("applies the policy to each group separately", () => {
    const perGroup = groupSnapshots(snapshots, DEFAULT_GROUP_BY).map((g) => kept(apply(g.snapshots, { last: 1 })));
    expect(perGroup).toEqual([["a2"], ["a3"], ["b2"]]);
  });

  it("does not reorder the snapshots' own lists", () => {
    groupSnapshots(snapshots, parseGroupBy("paths,tags"));
    expect(snapshots[1]?.paths).toEqual(["/home", "/etc"]);
    expect(snapshots[3]?.tags).toEqual(["y", "x"]);
  });
});

describe("properties", () => {
  const BASE = Date.UTC(2019, 0, 1);
  const HOUR = 3_600_000;
  // Times either spread over three years or packed into a few days, so buckets collide.
  const offset = fc.oneof(fc.integer({ min: 0, max: 3 * 365 * 24 * 60 }), fc.integer({ min: 0, max: 4 * 24 * 60 }));
  const snapshotsArb = fc
    .array(fc.record({ minutes: offset, tags: fc.subarray(["a", "b", "c"]) }), { maxLength: 60 })
    .map((items) =>
      items.map(({ minutes, tags }, i) => snap(`s${i}`, { id: `s${i}`, time: new Date(BASE + minutes * 60_000), tags })),
    );
  const count = fc.oneof(fc.nat(6), fc.constant(Infinity));
  const duration = fc.record({ years: fc.nat(1), months: fc.nat(3), days: fc.nat(10), hours: fc.nat(30) });
  const policyArb: fc.Arbitrary<RetentionPolicy> = fc.record(
    {
      last: count,
      hourly: count,
      daily: count,
      weekly: count,
      monthly: count,
      yearly: count,
      within: duration,
      withinHourly: duration,
      withinDaily: duration,
      withinWeekly: duration,
      withinMonthly: duration,
      withinYearly: duration,
      keepTags: fc.array(fc.subarray(["a", "b", "c", ""], { minLength: 1 }), { maxLength: 2 }),
    },
    { requiredKeys: [] },
  );
  const zoneArb = fc.constantFrom("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe");
  const NOW = new Date(BASE + 4 * 365 * 24 * HOUR);

  /** The policy split into one policy per rule. */
  function singleRules(policy: RetentionPolicy): RetentionPolicy[] {
    const { keepTags, ...rest } = policy;
    return [
      ...Object.entries(rest).map(([field, value]) => ({ [field]: value })),
      ...(keepTags ?? []).map((tags) => ({ keepTags: [tags] })),
    ];
  }

  it("partitions the input, keeps exactly what some single rule keeps, and is order-independent", () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, zoneArb, (snapshots, policy, timeZone) => {
        const opts = { timeZone, now: NOW };
        const decision = applyRetentionPolicy(snapshots, policy, opts);
        const keepIds = kept(decision);
        const all = [...keepIds, ...removed(decision)];
        expect(new Set(all).size).toBe(all.length);
        expect([...all].sort()).toEqual(snapshots.map((s) => s.id).sort());

        if (isEmptyPolicy(policy)) {
          expect(decision.remove).toEqual([]);
          return;
        }
        // forget never removes a snapshot that a rule of the policy keeps on its own, and each
        // kept snapshot carries exactly the reasons of the rules that keep it.
        const expected = new Map<string, string[]>();
        for (const single of singleRules(policy)) {
          if (isEmptyPolicy(single)) continue;
          for (const k of applyRetentionPolicy(snapshots, single, opts).keep) {
            expected.set(k.snapshot.id, [...(expected.get(k.snapshot.id) ?? []), ...k.reasons]);
          }
        }
        expect(new Set(keepIds)).toEqual(new Set(expected.keys()));
        for (const k of decision.keep) expect([...k.reasons].sort()).toEqual(expected.get(k.snapshot.id)?.sort());

        expect(applyRetentionPolicy([...snapshots].reverse(), policy, opts)).toEqual(decision);
      }),
    );
  });

  it("keeps everything under an empty policy", () => {
    const emptyPolicy = fc.record(
      { last: fc.constant(0), daily: fc.constant(0), within: fc.constant({ years: 0, months: 0, days: 0, hours: 0 }), keepTags: fc.constant([]) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(snapshotsArb, emptyPolicy, (snapshots, policy) => {
        const decision = applyRetentionPolicy(snapshots, policy, { timeZone: "UTC" });
        expect(decision.remove).toEqual([]);
        expect(decision.keep).toHaveLength(snapshots.length);
      }),
    );
  });

  /** ISO week by the ordinal-date formula, independent of the implementation's Thursday rule. */
  function referenceWeek(date: Date): string {
    const year = date.getUTCFullYear();
    const ordinal = (Date.UTC(year, date.getUTCMonth(), date.getUTCDate()) - Date.UTC(year, 0, 1)) / 86_400_000 + 1;
    const weekday = date.getUTCDay() || 7;
    const p = (y: number) => (y + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400)) % 7;
    const weeksIn = (y: number) => (p(y) === 4 || p(y - 1) === 3 ? 53 : 52);
    const week = Math.floor((ordinal - weekday + 10) / 7);
    if (week < 1) return `${year - 1}-W${weeksIn(year - 1)}`;
    if (week > weeksIn(year)) return `${year + 1}-W1`;
    return `${year}-W${week}`;
  }

  const buckets = {
    hourly: (d: Date) => d.toISOString().slice(0, 13),
    daily: (d: Date) => d.toISOString().slice(0, 10),
    weekly: referenceWeek,
    monthly: (d: Date) => d.toISOString().slice(0, 7),
    yearly: (d: Date) => d.toISOString().slice(0, 4),
  };

  it("count rules keep the newest snapshot of the N newest buckets (plus the oldest while buckets are left)", () => {
    const period = fc.constantFrom(...(Object.keys(buckets) as (keyof typeof buckets)[]));
    fc.assert(
      fc.property(snapshotsArb, period, fc.integer({ min: 1, max: 8 }), (snapshots, name, n) => {
        // At equal times the larger id is the newer.
        const sorted = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
        const newestPerBucket = new Map<string, string>();
        for (const s of sorted) if (!newestPerBucket.has(buckets[name](s.time))) newestPerBucket.set(buckets[name](s.time), s.id);
        const expected = new Set([...newestPerBucket.values()].slice(0, n));
        const oldest = sorted.at(-1);
        if (newestPerBucket.size < n && oldest) expected.add(oldest.id);

        const decision = applyRetentionPolicy(snapshots, { [name]: n }, { timeZone: "UTC" });
        expect(new Set(kept(decision))).toEqual(expected);
      }),
    );
  });

  it("keep-within keeps exactly the snapshots after the newest past snapshot minus the duration", () => {
    fc.assert(
      fc.property(snapshotsArb, fc.nat(10), fc.nat(48), fc.integer({ min: 0, max: 4 * 365 * 24 }), (snapshots, d, h, nowHours) => {
        fc.pre(d + h > 0);
        const now = new Date(BASE + nowHours * HOUR);
        const past = snapshots.filter((s) => s.time < now).map((s) => s.time.getTime());
        const limit = past.length === 0 ? -Infinity : Math.max(...past) - d * 24 * HOUR - h * HOUR;
        const expected = snapshots.filter((s) => s.time.getTime() > limit).map((s) => s.id);
        const decision = applyRetentionPolicy(snapshots, { within: { years: 0, months: 0, days: d, hours: h } }, { timeZone: "UTC", now });
        expect(new Set(kept(decision))).toEqual(new Set(expected));
      }),
    );
  });
});

// --at: reading times, and choosing the snapshot that was current at a time.
import { describe, expect, it } from "vitest";
import { parseTime, throughItsSecond } from "../../src/cli/parse-time.js";
import { snapshotFilter } from "../../src/cli/snapshot-options.js";
import { localTime } from "../../src/platform/local-time.js";
import { UsageError } from "../../src/errors.js";
import { filterSnapshots, selectSnapshot, selectSnapshots } from "../../src/store/snapshot/snapshot-filter.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";

const NOW = new Date(2026, 10, 19, 12, 0, 0); // Thursday 2026-11-19 12:00 local time

describe("parseTime", () => {
  it("reads ISO 8601 with a zone exactly", () => {
    expect(parseTime("2026-11-17T09:00:00Z", "--at", NOW).toISOString()).toBe("2026-11-17T09:00:00.000Z");
    expect(parseTime("2026-11-17T09:00:00.250+02:00", "--at", NOW).toISOString()).toBe("2026-11-17T07:00:00.250Z");
  });

  it("reads ISO 8601 without a zone as local time, and a bare date as its midnight", () => {
    expect(parseTime("2026-11-17T09:00", "--at", NOW).getTime()).toBe(new Date(2026, 10, 17, 9, 0).getTime());
    expect(parseTime("2026-11-17 09:30", "--at", NOW).getTime()).toBe(new Date(2026, 10, 17, 9, 30).getTime());
    expect(parseTime("2026-11-17", "--at", NOW).getTime()).toBe(new Date(2026, 10, 17, 0, 0).getTime());
  });

  it("reads relative phrases against now", () => {
    expect(parseTime("2 days ago", "--at", NOW).getTime()).toBe(NOW.getTime() - 2 * 86_400_000);
    expect(parseTime("3 hours ago", "--at", NOW).getTime()).toBe(NOW.getTime() - 3 * 3_600_000);
    expect(parseTime("yesterday 09:00", "--at", NOW).getTime()).toBe(new Date(2026, 10, 18, 9, 0).getTime());
    expect(parseTime("last tuesday 9am", "--at", NOW).getTime()).toBe(new Date(2026, 10, 17, 9, 0).getTime());
  });

  it("takes a calendar date without a time as its midnight, in every format, and a date without a year in the past", () => {
    const midnight = new Date(2026, 2, 1).getTime();
    for (const text of ["2026-03-01", "2026/03/01", "1 March 2026", "March 1 2026", "01.03.2026"]) expect(parseTime(text, "--at", NOW).getTime(), text).toBe(midnight);
    // Dots: day first. chrono alone read 05.03.2026 as May 3.
    expect(parseTime("05.03.2026 10:30", "--at", NOW).getTime()).toBe(new Date(2026, 2, 5, 10, 30).getTime());
    expect(() => parseTime("31.02.2026", "--at", NOW)).toThrow(UsageError);
    // In November, "March 15" is the March just gone, not the next one.
    expect(parseTime("March 15", "--at", NOW).getTime()).toBe(new Date(2026, 2, 15).getTime());
    // Relative days keep the time of day, as `date -d yesterday` does.
    expect(parseTime("yesterday", "--at", NOW).getTime()).toBe(NOW.getTime() - 86_400_000);
  });

  it("--at stands for the whole second it names, unless it gives a fraction", () => {
    expect(throughItsSecond("2026-11-17 09:00:00", new Date("2026-11-17T09:00:00Z")).toISOString()).toBe("2026-11-17T09:00:00.999Z");
    expect(throughItsSecond("2026-11-17T09:00:00.250Z", new Date("2026-11-17T09:00:00.250Z")).toISOString()).toBe("2026-11-17T09:00:00.250Z");
  });

  it("rejects what it cannot read whole, naming the option", () => {
    for (const bad of ["garbage", "2 dayz ago", "2 days agoo", "2026-13-45", "yesterday and today", ""]) {
      expect(() => parseTime(bad, "--at", NOW), bad).toThrow(UsageError);
    }
    expect(() => parseTime("soon", "--at", NOW)).toThrow(/--at: cannot read "soon"/);
  });
});

function snap(id: string, time: string, hostname = "web", paths = ["/srv"], tags: string[] = []): StoredSnapshot {
  return { id: id.padEnd(64, "0"), time, tree: "f".repeat(64), paths, hostname, username: "u", tags, programVersion: "test" };
}

const SNAPSHOTS = [
  snap("a1", "2026-11-16T09:00:00Z"),
  snap("a2", "2026-11-17T08:59:59Z"),
  snap("a3", "2026-11-17T09:00:00Z", "web", ["/srv"], ["daily"]),
  snap("a4", "2026-11-17T09:00:01Z"),
  snap("b1", "2026-11-15T00:00:00Z", "db", ["/var/lib"]),
  snap("b2", "2026-11-18T00:00:00Z", "db", ["/var/lib"]),
];
const AT = new Date("2026-11-17T09:00:00Z");

describe("choosing snapshots at a time", () => {
  it("latest --at picks the newest snapshot at or before the time", () => {
    expect(selectSnapshot(SNAPSHOTS, "latest", { at: AT }).id).toBe(SNAPSHOTS[2]!.id);
    expect(selectSnapshot(SNAPSHOTS, "latest", { at: new Date("2026-11-17T08:59:59.999Z") }).id).toBe(SNAPSHOTS[1]!.id);
  });

  it("a time shown to the second selects the snapshot stored within that second", () => {
    const precise = [snap("c1", "2026-11-25T07:10:00.000Z"), snap("c2", "2026-11-25T07:10:39.679Z")];
    expect(selectSnapshot(precise, "latest", { at: throughItsSecond("x", new Date("2026-11-25T07:10:39Z")) }).id).toBe(precise[1]!.id);
  });

  it("at equal times takes the larger id, as forget's --keep-last does", () => {
    const twins = [snap("d1", "2026-11-25T07:00:00Z"), snap("d2", "2026-11-25T07:00:00Z")];
    expect(selectSnapshot(twins, "latest").id).toBe(twins[1]!.id);
    expect(selectSnapshot([...twins].reverse(), "latest").id).toBe(twins[1]!.id);
  });

  it("--path cleans a file path as backup records it, and leaves other sources' names alone", () => {
    expect(snapshotFilter({ host: [], tag: [], path: ["/srv/./www/", "/", "docker:all", "postgres:db"] }).paths).toEqual(["/srv/www", "/", "docker:all", "postgres:db"]);
  });

  it("--tag '' selects untagged snapshots only, as in restic", () => {
    const mixed = [snap("e1", "2026-11-01T00:00:00Z"), snap("e2", "2026-11-02T00:00:00Z", "web", ["/srv"], ["keepme"]), snap("e3", "2026-11-03T00:00:00Z", "web", ["/srv"], ["a", "b"])];
    expect(filterSnapshots(mixed, { tags: [""] }).map((s) => s.id.slice(0, 2))).toEqual(["e1"]);
    expect(filterSnapshots(mixed, { tags: ["", "keepme"] }).map((s) => s.id.slice(0, 2))).toEqual(["e1", "e2"]);
    expect(filterSnapshots(mixed, { tags: ["a,b"] }).map((s) => s.id.slice(0, 2))).toEqual(["e3"]);
  });

  it("respects the host, path and tag filters", () => {
    expect(selectSnapshot(SNAPSHOTS, "latest", { at: AT, hosts: ["db"] }).id).toBe(SNAPSHOTS[4]!.id);
    expect(selectSnapshot(SNAPSHOTS, "latest", { at: new Date("2026-11-20T00:00:00Z"), tags: ["daily"] }).id).toBe(SNAPSHOTS[2]!.id);
    expect(selectSnapshot(SNAPSHOTS, "latest", { at: AT, paths: ["/var/lib"] }).id).toBe(SNAPSHOTS[4]!.id);
  });

  it("lists, for several commands, one snapshot per host and path set: the state at that time", () => {
    expect(filterSnapshots(SNAPSHOTS, { at: AT }).map((s) => s.id.slice(0, 2))).toEqual(["a3", "b1"]);
    expect(selectSnapshots(SNAPSHOTS, [], { at: new Date("2026-11-30T00:00:00Z") }).map((s) => s.id.slice(0, 2))).toEqual(["a4", "b2"]);
  });

  it("says so when nothing is that old, and refuses an id together with a time", () => {
    expect(() => selectSnapshot(SNAPSHOTS, "latest", { at: new Date("2026-01-01T00:00:00Z") })).toThrow(`no snapshot at or before ${localTime("2026-01-01T00:00:00Z")} matches`);
    expect(() => selectSnapshot(SNAPSHOTS, "a1", { at: AT })).toThrow(UsageError);
  });
});

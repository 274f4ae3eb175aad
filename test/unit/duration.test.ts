import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import {
  formatRetentionDuration,
  isZeroDuration,
  parseRetentionDuration,
  subtractDuration,
  type RetentionDuration,
} from "../../src/prune/duration.js";

const utc = (iso: string) => new Date(`${iso}Z`);
const d = (years: number, months: number, days: number, hours: number): RetentionDuration => ({ years, months, days, hours });

describe("parseRetentionDuration", () => {
  it("reads restic's units in any order", () => {
    expect(parseRetentionDuration("1y5m7d2h")).toEqual(d(1, 5, 7, 2));
    expect(parseRetentionDuration("30d")).toEqual(d(0, 0, 30, 0));
    expect(parseRetentionDuration("2h1y")).toEqual(d(1, 0, 0, 2));
    expect(parseRetentionDuration(" 12m ")).toEqual(d(0, 12, 0, 0));
    expect(parseRetentionDuration("0d")).toEqual(d(0, 0, 0, 0));
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    ["5", /no unit after 5/],
    ["1w", /unknown unit "w"/],
    ["1D", /unknown unit "D"/],
    ["1d2d", /unit "d" given twice/],
    ["-1d", /expected a number at "-1d"/],
    ["d", /expected a number at "d"/],
    ["1d 2h", /expected a number at " 2h"/],
    ["1.5d", /no unit after 1/],
    ["99999999999999999999d", /too large/],
  ])("refuses %j", (text, why) => {
    expect(() => parseRetentionDuration(text)).toThrow(UsageError);
    expect(() => parseRetentionDuration(text)).toThrow(why);
    expect(() => parseRetentionDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
  });

  it("round-trips through formatRetentionDuration", () => {
    const duration = fc.record({ years: fc.nat(200), months: fc.nat(50), days: fc.nat(1000), hours: fc.nat(10_000) });
    fc.assert(
      fc.property(duration, (value) => {
        expect(parseRetentionDuration(formatRetentionDuration(value))).toEqual(value);
      }),
    );
  });
});

describe("formatRetentionDuration and isZeroDuration", () => {
  it("prints non-zero units only", () => {
    expect(formatRetentionDuration(d(1, 5, 7, 2))).toBe("1y5m7d2h");
    expect(formatRetentionDuration(d(0, 0, 30, 0))).toBe("30d");
    expect(formatRetentionDuration(d(0, 0, 0, 0))).toBe("0h");
  });

  it("knows the zero duration", () => {
    expect(isZeroDuration(d(0, 0, 0, 0))).toBe(true);
    expect(isZeroDuration(d(0, 0, 0, 1))).toBe(false);
  });
});

describe("subtractDuration", () => {
  it("moves calendar months and years, normalizing overflow like Go's AddDate", () => {
    expect(subtractDuration(utc("2021-03-31T12:00:00"), d(0, 1, 0, 0), "UTC")).toEqual(utc("2021-03-03T12:00:00"));
    expect(subtractDuration(utc("2020-03-31T12:00:00"), d(0, 1, 0, 0), "UTC")).toEqual(utc("2020-03-02T12:00:00"));
    expect(subtractDuration(utc("2021-01-15T08:30:00"), d(1, 0, 0, 0), "UTC")).toEqual(utc("2020-01-15T08:30:00"));
    expect(subtractDuration(utc("2020-02-29T00:00:00"), d(1, 0, 0, 0), "UTC")).toEqual(utc("2019-03-01T00:00:00"));
    expect(subtractDuration(utc("2021-01-10T00:00:00"), d(0, 13, 0, 0), "UTC")).toEqual(utc("2019-12-10T00:00:00"));
  });

  it("subtracts days on the calendar and hours as elapsed time", () => {
    expect(subtractDuration(utc("2021-01-01T01:00:00"), d(0, 0, 0, 2), "UTC")).toEqual(utc("2020-12-31T23:00:00"));
    expect(subtractDuration(utc("2021-03-01T00:00:00"), d(0, 0, 1, 0), "UTC")).toEqual(utc("2021-02-28T00:00:00"));
    expect(subtractDuration(utc("2022-08-20T05:00:00"), d(1, 5, 7, 2), "UTC")).toEqual(utc("2021-03-13T03:00:00"));
  });

  it("keeps the wall-clock time across a DST change in the given zone", () => {
    // Berlin switched to summer time on 2021-03-28: a calendar day there was 23 hours long.
    const noonMonday = utc("2021-03-29T10:00:00"); // 12:00 CEST
    expect(subtractDuration(noonMonday, d(0, 0, 1, 0), "Europe/Berlin")).toEqual(utc("2021-03-28T10:00:00"));
    expect(subtractDuration(noonMonday, d(0, 0, 2, 0), "Europe/Berlin")).toEqual(utc("2021-03-27T11:00:00"));
    // Hours stay exact: 24h back from 12:00 CEST Monday is 11:00 CEST Sunday.
    expect(subtractDuration(noonMonday, d(0, 0, 0, 24), "Europe/Berlin")).toEqual(utc("2021-03-28T10:00:00"));
  });

  it("resolves repeated and skipped wall-clock times as Go's time.Date does, so --keep-within keeps what restic keeps", () => {
    // 02:30 happened twice in Berlin on 2021-10-31 (at 00:30Z and 01:30Z; Go takes the second)
    // and never on 2021-03-28 (Go takes the offset from before the change: 01:30Z).
    expect(subtractDuration(utc("2021-11-01T01:30:00"), d(0, 0, 1, 0), "Europe/Berlin")).toEqual(utc("2021-10-31T01:30:00"));
    expect(subtractDuration(utc("2021-03-29T00:30:00"), d(0, 0, 1, 0), "Europe/Berlin")).toEqual(utc("2021-03-28T01:30:00"));
    // West of UTC a skipped time takes the offset from after the change: 02:30 on 2026-03-08 in
    // New York (never shown) is 06:30Z, so a snapshot at 06:45Z is within a day of 2026-03-09T06:30Z.
    expect(subtractDuration(utc("2026-03-09T06:30:00"), d(0, 0, 1, 0), "America/New_York")).toEqual(utc("2026-03-08T06:30:00"));
    // 01:30 on 2026-11-01 happened twice in New York (05:30Z and 06:30Z; Go takes the first).
    expect(subtractDuration(utc("2026-11-02T06:30:00"), d(0, 0, 1, 0), "America/New_York")).toEqual(utc("2026-11-01T05:30:00"));
  });

  it("computes in the local zone by default, the same as naming that zone", () => {
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const instant = fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) });
    const duration = fc.record({ years: fc.nat(3), months: fc.nat(30), days: fc.nat(400), hours: fc.nat(100) });
    fc.assert(
      fc.property(instant, duration, (ms, value) => {
        expect(subtractDuration(new Date(ms), value)).toEqual(subtractDuration(new Date(ms), value, local));
      }),
    );
  });

  it("agrees with UTC arithmetic for days and hours in UTC", () => {
    const instant = fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) });
    fc.assert(
      fc.property(instant, fc.nat(5000), fc.nat(100_000), (ms, days, hours) => {
        const expected = ms - days * 86_400_000 - hours * 3_600_000;
        expect(subtractDuration(new Date(ms), d(0, 0, days, hours), "UTC").getTime()).toBe(expected);
      }),
    );
  });

  it("handles years before 100 AD", () => {
    expect(subtractDuration(utc("2020-06-01T00:00:00"), d(1990, 0, 0, 0), "UTC").toISOString()).toBe(
      "0030-06-01T00:00:00.000Z",
    );
    expect(subtractDuration(utc("2020-06-01T00:00:00"), d(1990, 0, 0, 0), "Asia/Tokyo").getUTCFullYear()).toBe(30);
  });

  it("returns an invalid Date beyond Date's range instead of wrapping", () => {
    expect(Number.isNaN(subtractDuration(utc("2020-06-01T00:00:00"), d(400_000, 0, 0, 0), "UTC").getTime())).toBe(true);
  });

  it("refuses an unknown time zone", () => {
    expect(() => subtractDuration(new Date(), d(0, 0, 1, 0), "Mars/Olympus_Mons")).toThrow(UsageError);
  });
});

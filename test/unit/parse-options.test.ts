import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { collectTags, parseSize } from "../../src/cli/parse-options.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("parseSize", () => {
  it("reads a number with an optional binary unit, in restic's and borg's spellings", () => {
    const cases: [string, number][] = [
      ["0", 0],
      ["4096", 4096],
      ["3B", 3],
      ["512K", 512 * KiB],
      ["512k", 512 * KiB],
      ["10M", 10 * MiB],
      ["10MB", 10 * MiB],
      ["10MiB", 10 * MiB],
      ["10mib", 10 * MiB],
      ["10 M", 10 * MiB],
      [" 2G ", 2 * 1024 * MiB],
      ["1T", 1024 * 1024 * MiB],
      ["1.5K", 1536],
    ];
    for (const [text, value] of cases) expect(parseSize(text, "--size"), text).toBe(value);
  });

  it("refuses anything else instead of reading the number in front of it", () => {
    for (const text of ["", "M", "1Mo", "16Mob", "5pct", "1.5/7", "1e3", "0x10", "-1", "10MiBs", "10iB", "1,5M", "10  M", ".5M", "1.M"]) {
      expect(() => parseSize(text, "--size"), text).toThrow(UsageError);
    }
    expect(() => parseSize("1Mo", "--exclude-larger-than")).toThrow(/^--exclude-larger-than: invalid size "1Mo"/);
  });
});

describe("collectTags", () => {
  const parse = (...values: string[]) => values.reduce<string[]>((tags, value) => collectTags(value, tags), []);

  it("splits on commas across repeated options, leaving out empty and repeated tags", () => {
    expect(parse("a,b")).toEqual(["a", "b"]);
    expect(parse("a", "b,c", "a")).toEqual(["a", "b", "c"]);
    expect(parse("", ",", "a,,b,", " c ")).toEqual(["a", "b", "c"]);
    expect(parse("")).toEqual([]);
  });
});

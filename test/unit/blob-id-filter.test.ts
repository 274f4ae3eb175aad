// The filter that spares a rebuild its lookups must never call an added id new; calling a new id
// "maybe added" only costs a lookup, so that may happen, rarely.
import { describe, expect, it } from "vitest";
import { hashBytes } from "../../src/store/id.js";
import { BlobIdFilter } from "../../src/store/index/blob-id-filter.js";

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => hashBytes(Buffer.from(`blob ${from + i}`)));

describe("BlobIdFilter", () => {
  it("holds every id added, and few of the others at its capacity", () => {
    const filter = new BlobIdFilter(50_000);
    const added = ids(0, 50_000);
    for (const id of added) filter.add(id);
    expect(added.every((id) => filter.mightHold(id))).toBe(true);
    const others = ids(1_000_000, 50_000);
    const falseMaybes = others.filter((id) => filter.mightHold(id)).length;
    expect(falseMaybes).toBeLessThan(others.length * 0.02);
  });

  it("still holds every id added far past its capacity (it only answers maybe more often)", () => {
    const filter = new BlobIdFilter(0);
    const added = ids(0, 10_000);
    for (const id of added) filter.add(id);
    expect(added.every((id) => filter.mightHold(id))).toBe(true);
    expect(new BlobIdFilter(10).mightHold(added[0]!)).toBe(false);
  });
});

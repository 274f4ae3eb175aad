import { describe, expect, it } from "vitest";
import type { BlobSink } from "../../src/backup/blob-sink.js";
import { DEFAULT_CHUNKER_PARAMS } from "../../src/chunker/index.js";
import { saveDumpContent } from "../../src/sources/postgres/dump-content.js";
import { hashBytes, type Id } from "../../src/store/id.js";

/** Keeps blobs in memory and counts what each save adds. */
class MemorySink implements BlobSink {
  readonly config = { chunker: DEFAULT_CHUNKER_PARAMS };
  readonly stats = { blobsAdded: { data: 0, tree: 0 }, bytesAdded: 0, bytesAddedStored: 0, packsWritten: 0 };
  readonly blobs = new Map<Id, Buffer>();
  hasBlob(id: Id): boolean {
    return this.blobs.has(id);
  }
  async hasBlobs(ids: readonly Id[]): Promise<boolean[]> {
    return ids.map((id) => this.blobs.has(id));
  }
  isCompleteTree(): boolean {
    return false;
  }
  async markCompleteTrees(): Promise<void> {}
  async saveBlob(_type: "data" | "tree", plain: Uint8Array) {
    const id = hashBytes(plain);
    const added = !this.blobs.has(id);
    if (added) {
      this.blobs.set(id, Buffer.from(plain));
      this.stats.bytesAdded += plain.length;
    }
    return { id, added };
  }
  async saveFiles(): Promise<never> {
    throw new Error("not used");
  }
  async saveTree(): Promise<Id> {
    throw new Error("not used");
  }
  async loadTree(): Promise<never> {
    throw new Error("not used");
  }
  async loadBlob(): Promise<never> {
    throw new Error("not used");
  }
  async flush(): Promise<void> {}
}

/** A plain dump as pg_dump 15.14+ writes it, with rows that make several chunks. */
function dump(key: string, rows: number): Buffer {
  const lines = ["--", "-- PostgreSQL database dump", "--", "", `\\restrict ${key}`, "", "SET statement_timeout = 0;", "COPY public.t (id, v) FROM stdin;"];
  for (let i = 0; i < rows; i++) lines.push(`${i}\t${hashBytes(Buffer.from(String(i)))}`);
  lines.push("\\.", "", "--", "-- PostgreSQL database dump complete", "--", "", `\\unrestrict ${key}`, "", "");
  return Buffer.from(lines.join("\n"));
}

/** Feeds `bytes` in reads of `size` bytes, like a pipe. */
async function* reads(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe("saveDumpContent", () => {
  it("stores exactly the dump's bytes, whatever the read sizes", async () => {
    const bytes = dump("aaaa", 60_000);
    for (const size of [1000, 65536, bytes.length]) {
      const sink = new MemorySink();
      const saved = await saveDumpContent(sink, reads(bytes, size));
      expect(saved.size).toBe(bytes.length);
      expect(Buffer.concat(saved.content.map((id) => sink.blobs.get(id)!)).equals(bytes)).toBe(true);
    }
  });

  it("keeps the random restrict key out of the chunks that carry the SQL", async () => {
    const sink = new MemorySink();
    const first = await saveDumpContent(sink, reads(dump("Key1", 60_000), 65536));
    expect(first.content.length).toBeGreaterThan(4);
    const before = sink.stats.bytesAdded;
    const second = await saveDumpContent(sink, reads(dump("Key2", 60_000), 65536));
    // Only the two lines naming the key are new: a few hundred bytes, not megabytes.
    expect(sink.stats.bytesAdded - before).toBeLessThan(200);
    expect(second.content.slice(1, -1)).toEqual(first.content.slice(1, -1));
  });

  it("stores dumps without restrict lines (older pg_dump) as one stream", async () => {
    const bytes = Buffer.from("--\n-- dump\n--\nSELECT 1;\n");
    const sink = new MemorySink();
    const saved = await saveDumpContent(sink, reads(bytes, 7));
    expect(saved.content).toEqual([hashBytes(bytes)]);
  });
});

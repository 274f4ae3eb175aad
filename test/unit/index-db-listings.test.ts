// The database patched after index files come and go must hold what a rebuild from the same
// index files holds, also when index files list a pack in more than one way (an interrupted
// repair index leaves a pack's old listing beside the one from its trailer, and prune may then
// merge both into one file), and whatever write a crash interrupts.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { compressDocument } from "../../src/store/document-codec.js";
import { hashBytes, type Id } from "../../src/store/id.js";
import { IndexDb } from "../../src/store/index/index-db.js";
import { serializeIndexFile, type IndexedPack } from "../../src/store/index/index-file.js";
import { listIndexFiles, syncIndexDb } from "../../src/store/index/index-sync.js";
import { writeIndexFile } from "../../src/store/index/index-writer.js";

const id = (n: number) => hashBytes(Buffer.from(`blob ${n}`));
const packId = (n: number) => hashBytes(Buffer.from(`pack ${n}`));
const entry = (blob: number, offset: number, plainLength = 200) => ({ id: id(blob), type: "data" as const, offset, storedLength: 100, plainLength, compression: 1 });
const pack = (n: number, entries: ReturnType<typeof entry>[]): IndexedPack => ({ id: packId(n), type: "data", size: 100_000, entries });
const file = (packs: IndexedPack[]) => compressDocument(serializeIndexFile({ packs }));

let work: string;
let backend: LocalBackend;
const dbs: IndexDb[] = [];

beforeEach(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-listings-"));
  await fs.mkdir(join(work, "repo", "index"), { recursive: true });
  backend = new LocalBackend(join(work, "repo"));
});
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close().catch(() => undefined);
  await fs.rm(work, { recursive: true, force: true });
});

async function openDb(name: string): Promise<IndexDb> {
  const db = await IndexDb.open(join(work, name), { waitMs: 0 });
  dbs.push(db);
  return db;
}

async function put(stored: Buffer): Promise<Id> {
  await backend.put(`index/${hashBytes(stored)}`, stored).catch(() => undefined);
  return hashBytes(stored);
}

/** Every location and copy, every pack and index file: what two databases are compared by. */
async function contents(db: IndexDb) {
  const all: string[] = [];
  for await (const [blob, at] of db.blobs()) all.push(`${blob} ${at.packId} ${at.offset}`);
  for await (const [blob, at] of db.duplicates()) all.push(`${blob} ${at.packId} ${at.offset}`);
  const packs: Id[] = [];
  for await (const summary of db.packs()) packs.push(summary.id);
  return { all: all.sort(), packs: packs.sort(), files: [...(await db.indexFiles())].sort(), pending: db.rebuildPending() };
}

let scratches = 0;
/** What a database built from nothing out of the index files now present holds. */
async function fromScratch() {
  const db = await IndexDb.open(join(work, `scratch-${scratches++}`), { waitMs: 0 });
  try {
    await syncIndexDb(db, backend);
    return await contents(db);
  } finally {
    await db.close();
  }
}

describe("a pack listed in more than one way", () => {
  it("one file listing a pack twice, the second time with fewer blobs: taking the pack out takes all its blobs out", async () => {
    const doubled = await put(file([pack(1, [entry(1, 0), entry(2, 100)]), pack(1, [entry(1, 0)])]));
    await put(file([pack(2, [entry(9, 0)])]));
    const db = await openDb("db");
    await syncIndexDb(db, backend);
    expect(db.lookup(id(2))?.packId).toBe(packId(1));

    await backend.delete(`index/${doubled}`);
    await syncIndexDb(db, backend);
    expect(db.hasPack(packId(1))).toBe(false);
    expect(db.lookup(id(2)), "blob 2 was only in pack 1, which is gone").toBeUndefined();
    expect(await contents(db)).toEqual(await fromScratch());
  });

  it("listed differently by two files: when the file whose listing was recorded goes, the other file's listing is what remains", async () => {
    const right = file([pack(1, [entry(1, 0), entry(2, 300), entry(3, 500)])]);
    // A wrong listing whose file sorts first, so a rebuild meets it first.
    let wrong = file([pack(1, [entry(1, 0), entry(2, 100)])]);
    for (let k = 1; hashBytes(wrong) >= hashBytes(right); k++) wrong = file([pack(1, [entry(1, 0, 200 + k), entry(2, 100)])]);
    const db = await openDb("cache");
    const old = await put(wrong);
    await syncIndexDb(db, backend);
    // A repair index elsewhere has written the pack's listing from its trailer, not yet deleted the old one.
    await put(right);
    await syncIndexDb(db, backend);
    await backend.delete(`index/${old}`);
    await syncIndexDb(db, backend);
    expect(db.lookup(id(2))?.offset).toBe(300);
    expect(db.lookup(id(3))?.offset).toBe(500);
    expect(await contents(db)).toEqual(await fromScratch());
  });

  it("listed differently by two files at once: every blob either listing names is located", async () => {
    await put(file([pack(1, [entry(1, 0)])]));
    await put(file([pack(1, [entry(1, 0), entry(2, 100)])]));
    const db = await openDb("db");
    await syncIndexDb(db, backend);
    expect(db.locationIn(id(2), packId(1))).toBeDefined();
    expect(db.hasConflictingListings()).toBe(true);
  });

  /** Two listings of pack 1 that put blob 1 at different offsets, the later one's file sorting first. */
  function twoOffsets() {
    const first = [pack(1, [entry(1, 0), entry(2, 100)])];
    let second = [pack(1, [entry(1, 500), entry(2, 100)])];
    for (let k = 1; hashBytes(file(second)) >= hashBytes(file(first)); k++) second = [pack(1, [entry(1, 500, 200 + k), entry(2, 100)])];
    return { first, second };
  }

  it("listed differently by a writer (a backup, an adoption, a repair): the next sync rebuilds", async () => {
    const { first, second } = twoOffsets();
    await put(file(first));
    const db = await openDb("db");
    await syncIndexDb(db, backend);
    await writeIndexFile(backend, db, second);
    expect(await syncIndexDb(db, backend)).toBe("rebuilt");
    expect(await contents(db)).toEqual(await fromScratch());
  });

  it("listed differently by a new file, and the sync killed before its rebuild: the next sync rebuilds", async () => {
    const { first, second } = twoOffsets();
    await put(file(first));
    let db = await openDb("db");
    await syncIndexDb(db, backend);
    await put(file(second));
    // The rebuild starts by setting its mark with a put: the sync dies there.
    const level = (db as unknown as { db: { put: (...args: unknown[]) => Promise<void> } }).db;
    level.put = () => Promise.reject(new Error("simulated crash"));
    await expect(syncIndexDb(db, backend)).rejects.toThrow("simulated crash");
    await db.close();
    db = await openDb("db");
    expect(await syncIndexDb(db, backend)).toBe("rebuilt");
    expect(await contents(db)).toEqual(await fromScratch());
  });

  it("a copy in a pack listed at two offsets keeps the first listing's offset, as a location does", async () => {
    const a = file([pack(1, [entry(1, 0), entry(2, 100)])]);
    const f = file([pack(1, [entry(1, 1000), entry(2, 100)])]);
    await put(a);
    const db = await openDb("db");
    await syncIndexDb(db, backend);
    await put(f);
    expect(await syncIndexDb(db, backend)).toBe("rebuilt");
    // A later backup's file, sorting before both, holds another copy of blob 1.
    let g = file([pack(2, [entry(1, 0, 300)])]);
    for (let k = 1; hashBytes(g) >= hashBytes(a) || hashBytes(g) >= hashBytes(f); k++) g = file([pack(2, [entry(1, 0, 300 + k)])]);
    await put(g);
    expect(await syncIndexDb(db, backend)).toBe("updated");
    expect(await contents(db)).toEqual(await fromScratch());
  });

  it("a listing an older cairn left behind without its pack does not stop the pack being recorded when it is listed again", async () => {
    const p = pack(1, [entry(1, 0), entry(2, 100)]);
    const first = await put(file([p]));
    await put(file([pack(2, [entry(3, 0)])]));
    const db = await openDb("db");
    await syncIndexDb(db, backend);
    // An older cairn took pack 1 out by a rebuild, which cleared what it knew and left c/ alone.
    const level = (db as unknown as { db: { del: (key: string) => Promise<void> } }).db;
    for (const key of [`p/${p.id}`, `b/${id(1)}`, `b/${id(2)}`, `i/${first}`]) await level.del(key);
    await backend.delete(`index/${first}`);
    // The same pack listed again (adopted as an orphan, or copied back).
    await put(file([p]));
    await syncIndexDb(db, backend);
    expect(db.hasPack(p.id)).toBe(true);
    expect(db.lookup(id(2))?.packId).toBe(p.id);
  });
});

/** A deterministic generator, so a failing history can be replayed. */
function generator(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return (state >>> 12) % n;
  };
}

describe("random histories", () => {
  // Fixed seeds, so a failing history can be replayed (seed 4's failed before copies kept their first listing's offset).
  it.each([4, 8, 12])("after every sync the database holds what a rebuild holds: new files, prunes, packs listed again, and listed differently (seed %i)", async (seed) => {
    const rnd = generator(seed);
    const db = await openDb("db");
    // What each index file lists, by pack.
    const listings = new Map<Id, IndexedPack[]>();
    let nextPack = 0;
    for (let step = 0; step < 150; step++) {
      const files = await listIndexFiles(backend);
      const op = files.length < 2 ? 0 : rnd(7);
      let packs: IndexedPack[] = [];
      if (op === 0) {
        // A backup: new packs, blobs drawn from a small set so copies happen.
        for (let k = 0; k < 1 + rnd(3); k++) {
          const blobs = [...new Set(Array.from({ length: 1 + rnd(4) }, () => rnd(40)))];
          const n = nextPack++;
          packs.push(pack(n, blobs.map((b, i) => entry(b, i * 100 + n))));
        }
      } else if (op === 1) {
        // A prune: some packs go; the files listing them are replaced by one listing the rest.
        const dropped = new Set(files.flatMap((f) => listings.get(f)!.map((p) => p.id)).filter(() => rnd(3) === 0));
        const replaced = files.filter((f) => listings.get(f)!.some((p) => dropped.has(p.id)));
        packs = replaced.flatMap((f) => listings.get(f)!.filter((p) => !dropped.has(p.id)));
        for (const f of replaced) await backend.delete(`index/${f}`);
      } else if (op === 2) {
        // A file's packs listed again, in another order.
        packs = [...listings.get(files[rnd(files.length)]!)!].reverse();
      } else if (op === 3) {
        // A file's first pack listed again beside a new one.
        const n = nextPack++;
        packs = [listings.get(files[rnd(files.length)]!)![0]!, pack(n, [entry(rnd(40), n), entry(40 + n, 100 + n)])];
      } else if (op === 4) {
        // A pack listed differently: some of its blobs left out.
        const p = listings.get(files[rnd(files.length)]!)![0]!;
        packs = [{ ...p, entries: p.entries.filter(() => rnd(2) === 0) }];
      } else if (op === 5) {
        // A pack listed differently: its blobs at other offsets.
        const p = listings.get(files[rnd(files.length)]!)![0]!;
        const shift = 1000 * (1 + rnd(7));
        packs = [{ ...p, entries: p.entries.map((e) => ({ ...e, offset: e.offset + shift })) }];
      } else {
        // A writer's file (a backup's): a new pack, sometimes beside a pack listed again, whole or not.
        const n = nextPack++;
        const written = [pack(n, [...new Set([rnd(40), rnd(40)])].map((b, i) => entry(b, i * 100 + n)))];
        const p = listings.get(files[rnd(files.length)]!)![0]!;
        if (rnd(2) === 0) written.push(rnd(2) === 0 ? p : { ...p, entries: p.entries.filter(() => rnd(2) === 0) });
        listings.set(await writeIndexFile(backend, db, written), written);
      }
      if (packs.length > 0) {
        const stored = file(packs);
        listings.set(await put(stored), packs);
      }
      if (rnd(2) === 0) {
        await syncIndexDb(db, backend);
        expect(await contents(db), `step ${step}`).toEqual(await fromScratch());
      }
    }
  });
});

describe("a crash at each write of a sync that takes packs out", () => {
  it("the next sync holds what a rebuild holds, and no complete-tree mark survives", async () => {
    const [p1, p2, p3, p4, p5] = [pack(1, [entry(1, 0), entry(2, 100), entry(3, 200)]), pack(2, [entry(2, 0), entry(4, 100)]), pack(3, [entry(3, 0), entry(5, 100)]), pack(4, [entry(1, 0), entry(6, 100)]), pack(5, [entry(7, 0)])];
    await put(file([p5]));
    for (let crashAt = 0; ; crashAt++) {
      const before = [await put(file([p1, p2])), await put(file([p3]))];
      const dir = `db-${crashAt}`;
      let db = await openDb(dir);
      await syncIndexDb(db, backend);
      await db.markCompleteTrees([id(100)]);
      // Prune: p1 and p3 go, p2 stays (listed anew), blob 1 has a copy in the new p4.
      const after = await put(file([p2, p4]));
      for (const f of before) await backend.delete(`index/${f}`);
      const level = (db as unknown as { db: Record<string, (...args: unknown[]) => unknown> }).db;
      let writes = 0;
      const crash = () => {
        if (writes++ === crashAt) throw new Error("simulated crash");
      };
      for (const name of ["put", "del", "clear"]) {
        const real = level[name]!.bind(level);
        level[name] = async (...args: unknown[]) => {
          crash();
          return real(...args);
        };
      }
      const batch = level.batch!.bind(level);
      level.batch = (...args: unknown[]) => {
        const real = batch(...args) as { write: () => Promise<void> };
        const write = real.write.bind(real);
        real.write = async () => {
          crash();
          await write();
        };
        return real;
      };
      const crashed = await syncIndexDb(db, backend).then(() => false, () => true);
      await db.close();
      db = await openDb(dir);
      await syncIndexDb(db, backend);
      expect(await contents(db), `crash at write ${crashAt}`).toEqual(await fromScratch());
      expect(db.isCompleteTree(id(100)), `crash at write ${crashAt}`).toBe(false);
      await db.close();
      await backend.delete(`index/${after}`);
      if (!crashed) break;
    }
  });
});

// Objects named by their hash (packs, index files, snapshots): finding one already under the
// name is success only when its bytes hash to that name; a damaged one is replaced in place.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../../src/store/backend/backend.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { storeNamedByHash } from "../../src/store/backend/store-named-by-hash.js";
import { hashBytes } from "../../src/store/id.js";
import { loadSnapshot, writeSnapshot } from "../../src/store/snapshot/snapshot-store.js";
import { retagSnapshot } from "../../src/store/snapshot/snapshot-tags.js";
import { serializeSnapshot, type Snapshot } from "../../src/store/snapshot/snapshot.js";

let dir: string;
let backend: LocalBackend;
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "cairn-named-"));
  backend = new LocalBackend(dir);
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Every file name below `dir`, temporary ones included. */
async function names(): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
}

describe("LocalBackend.replace", () => {
  it("puts an object in place of the one there, or where there is none, and leaves no temporary file", async () => {
    await backend.replace("data/ab/x", Buffer.from("first"));
    expect((await backend.get("data/ab/x")).toString()).toBe("first");
    await backend.replace("data/ab/x", Buffer.from("second, longer"));
    expect((await backend.get("data/ab/x")).toString()).toBe("second, longer");
    expect(await names()).toEqual(["x"]);
  });
});

describe("storeNamedByHash", () => {
  it("keeps an object already there whose bytes hash to its name", async () => {
    const bytes = randomBytes(4096);
    const id = hashBytes(bytes);
    await storeNamedByHash(backend, `data/${id}`, id, bytes);
    const before = await fs.stat(join(dir, "data", id), { bigint: true });
    await storeNamedByHash(backend, `data/${id}`, id, bytes);
    const after = await fs.stat(join(dir, "data", id), { bigint: true });
    expect(after.ino).toBe(before.ino);
    expect((await backend.get(`data/${id}`)).equals(bytes)).toBe(true);
  });

  it("replaces a damaged object under the name, and one cut short", async () => {
    const bytes = randomBytes(4096);
    const id = hashBytes(bytes);
    const damaged = Buffer.from(bytes);
    damaged[2000]! ^= 0xff;
    await backend.put(`data/${id}`, damaged);
    await storeNamedByHash(backend, `data/${id}`, id, bytes);
    expect(hashBytes(await backend.get(`data/${id}`))).toBe(id);

    await backend.replace(`data/${id}`, bytes.subarray(0, 100));
    await storeNamedByHash(backend, `data/${id}`, id, bytes);
    expect(hashBytes(await backend.get(`data/${id}`))).toBe(id);
    expect(await names()).toEqual([id]);
  });

  it("never deletes the damaged object first: the name holds the old bytes or the new, never nothing", async () => {
    const bytes = randomBytes(4096);
    const id = hashBytes(bytes);
    await backend.put(`data/${id}`, bytes.subarray(0, 10));
    const calls: string[] = [];
    const watched: Backend = Object.create(backend) as Backend;
    watched.delete = async (key) => {
      calls.push(`delete ${key}`);
      return backend.delete(key);
    };
    watched.replace = async (key, data) => {
      calls.push(`replace ${key}`);
      return backend.replace(key, data);
    };
    await storeNamedByHash(watched, `data/${id}`, id, bytes);
    expect(calls).toEqual([`replace data/${id}`]);
    expect(hashBytes(await backend.get(`data/${id}`))).toBe(id);
  });

  it("a retag that finds its new document damaged (left by a run stopped before the delete) rewrites it before deleting the old one", async () => {
    const snapshot: Snapshot = { time: "2024-01-01T00:00:00Z", tree: "a".repeat(64), paths: ["/x"], hostname: "h", username: "u", tags: [], programVersion: "x" };
    const oldId = await writeSnapshot(backend, snapshot);
    const retagged = serializeSnapshot({ ...snapshot, tags: ["keep"], original: oldId });
    const newId = hashBytes(retagged);
    const damaged = Buffer.from(retagged);
    damaged[damaged.length >> 1]! ^= 0xff;
    await backend.put(`snapshots/${newId}`, damaged);

    const result = await retagSnapshot(backend, { ...snapshot, id: oldId }, { add: ["keep"] });
    expect(result?.id).toBe(newId);
    expect((await loadSnapshot(backend, newId)).tags).toEqual(["keep"]);
    expect(await backend.stat(`snapshots/${oldId}`)).toBeUndefined();
  });
});

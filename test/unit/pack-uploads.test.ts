// Pack uploads and backpressure: a slow store bounds the packs held in memory without stopping
// the next pack from filling while one is written.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Backend } from "../../src/store/backend/backend.js";
import { LocalBackend } from "../../src/store/backend/local-backend.js";
import { hashBytes } from "../../src/store/id.js";
import { Repository } from "../../src/store/repository.js";

const MiB = 1024 * 1024;
let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "cairn-uploads-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A local backend whose pack writes take `delayMs` longer, counting how many are under way at once. */
function slowPacks(backend: Backend, delayMs: number) {
  const stats = { inFlight: 0, maxInFlight: 0, puts: 0 };
  const slow: Backend = Object.create(backend) as Backend;
  slow.put = async (key, bytes) => {
    if (!key.startsWith("data/")) return backend.put(key, bytes);
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await backend.put(key, bytes);
      stats.puts++;
    } finally {
      stats.inFlight--;
    }
  };
  return { backend: slow, stats };
}

it("keeps filling the next pack while one is written, and holds at most two being written", async () => {
  const local = new LocalBackend(join(dir, "repo"));
  await fs.mkdir(join(dir, "repo"));
  await Repository.init(local, { packSize: MiB });
  const { backend, stats } = slowPacks(local, 40);
  const repo = await Repository.open(backend, { indexDbPath: join(dir, "index.db"), waitMs: 0 });
  const blobs = Array.from({ length: 48 }, () => randomBytes(128 * 1024));
  let acceptedDuringUpload = 0;
  try {
    for (const blob of blobs) {
      await repo.saveBlob("data", blob);
      if (stats.inFlight > 0) acceptedDuringUpload++;
    }
    await repo.flush();
  } finally {
    await repo.close();
  }
  // 6 MiB of incompressible blobs in 1 MiB packs.
  expect(stats.puts).toBeGreaterThanOrEqual(5);
  expect(stats.maxInFlight).toBeLessThanOrEqual(2);
  // Waiting out every upload before taking the next blob would accept none while one is written.
  expect(acceptedDuringUpload).toBeGreaterThan(blobs.length / 4);

  const reopened = await Repository.open(local, { indexDbPath: join(dir, "index.db"), waitMs: 0 });
  try {
    for (const blob of blobs) expect((await reopened.loadBlob(hashBytes(blob))).equals(blob)).toBe(true);
  } finally {
    await reopened.close();
  }
});

it("writes at most two packs at once when whole files are read on the worker threads", async () => {
  const local = new LocalBackend(join(dir, "repo"));
  await fs.mkdir(join(dir, "repo"));
  await Repository.init(local, { packSize: MiB });
  const { backend, stats } = slowPacks(local, 40);
  const repo = await Repository.open(backend, { indexDbPath: join(dir, "index.db"), waitMs: 0 });
  // A batch of chunks read from files holds several small packs' worth.
  const files = await Promise.all(
    Array.from({ length: 4 }, async (_, i) => {
      const path = join(dir, `f${i}`);
      await fs.writeFile(path, randomBytes(4 * MiB));
      return path;
    }),
  );
  try {
    await repo.saveFiles(files.map((f) => Buffer.from(f)));
    await repo.flush();
  } finally {
    await repo.close();
  }
  expect(stats.puts).toBeGreaterThanOrEqual(12);
  expect(stats.maxInFlight).toBeLessThanOrEqual(2);
});

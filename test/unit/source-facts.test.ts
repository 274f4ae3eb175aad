// What each source says about itself (server, versions) is kept in the snapshot for all of
// them: two PostgreSQL servers in one backup used to leave only the last one's.
import { afterEach, beforeEach, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import type { BackupSource } from "../../src/backup/backup-source.js";
import { createTestRepository, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
beforeEach(async () => {
  t = await createTestRepository();
});
afterEach(async () => {
  await t.cleanup();
});

const source = (path: string, facts: Record<string, string>): BackupSource => ({ path, facts, archive: async () => undefined });

it("keeps every source's facts, both values where two differ", async () => {
  const result = await runBackup(t.repo, {
    sources: [
      source("/postgres/a/shop.sql", { "postgres.server": "postgresql://a/shop", "postgres.server_version": "15.18" }),
      source("/postgres/b/big.sql", { "postgres.server": "postgresql://b/big", "postgres.server_version": "15.18" }),
    ],
  });
  expect(result.snapshot.source).toEqual({ "postgres.server": "postgresql://a/shop; postgresql://b/big", "postgres.server_version": "15.18" });
});

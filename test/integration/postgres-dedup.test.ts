// Day-over-day deduplication of plain SQL dumps: a table of a million rows grows by 1%, and the
// second backup stores a small fraction of what the first one did (repository default chunker).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PostgresServer } from "../support/postgres-server.js";
import { createRepo, dumpDatabase, passwordlessUrl, type TestRepo } from "./postgres-fixtures.js";

const ROWS = 1_000_000;
const NEW_ROWS = ROWS / 100;

/** Rows like an application's event log: ids, times, a category, an amount, a hash-like token. */
const insertRows = (from: number, to: number) =>
  `INSERT INTO events SELECT g, timestamptz '2024-01-01' + g * interval '1 second', 'kind-' || (g % 17), (g % 100000) / 100.0, md5(g::text) FROM generate_series(${from}, ${to}) g`;

interface Summary {
  snapshot_id: string;
  data_added: number;
  data_added_packed: number;
  data_blobs: number;
  tree_blobs: number;
  total_bytes_processed: number;
}

let pg: PostgresServer;
let repo: TestRepo;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql("postgres", "CREATE DATABASE ledger");
  await pg.psql("ledger", `CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, amount numeric(12,2) NOT NULL, token text); ${insertRows(1, ROWS)}`);
  repo = await createRepo(pg);
});

afterAll(async () => {
  await repo?.cleanup();
  await pg?.stop();
});

async function backup(): Promise<Summary> {
  const result = await repo.cairn(["--json", "backup", passwordlessUrl(pg, "ledger")]);
  expect(result.code, result.stderr).toBe(0);
  const summary = result.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { message_type: string })
    .find((m) => m.message_type === "summary");
  return summary as unknown as Summary;
}

describe("postgres deduplication", () => {
  it("stores less than 10% of the compressed dump when 1% of a million-row table is new", async () => {
    const day1 = await backup();
    await pg.psql("ledger", insertRows(ROWS + 1, ROWS + NEW_ROWS));
    const day2 = await backup();

    const ratio = day2.data_added_packed / day1.data_added_packed;
    console.log(
      `postgres dedup: dump ${day1.total_bytes_processed} -> ${day2.total_bytes_processed} bytes; ` +
        `day 1 stored ${day1.data_added_packed} bytes (compressed), day 2 stored ${day2.data_added_packed} bytes ` +
        `(${day2.data_added} before compression) = ${(ratio * 100).toFixed(2)}% of day 1`,
    );
    expect(day1.total_bytes_processed).toBeGreaterThan(50_000_000);
    expect(day2.total_bytes_processed).toBeGreaterThan(day1.total_bytes_processed);
    expect(ratio).toBeLessThan(0.1);

    // A day without changes stores only pg_dump's per-dump random key lines and the trees.
    const day3 = await backup();
    console.log(
      `postgres dedup: unchanged day 3 stored ${day3.data_added} bytes (${day3.data_added_packed} compressed) ` +
        `in ${day3.data_blobs} data and ${day3.tree_blobs} tree blobs`,
    );
    expect(day3.data_blobs).toBeLessThanOrEqual(2);
    // Beyond those small chunks, the new tree: it lists the dump's ~300 chunk ids, 67 bytes each.
    expect(day3.data_added).toBeLessThan(25_000);

    // And the day-2 snapshot restores to the day-2 database.
    const restore = await repo.cairn(["restore", day2.snapshot_id, "--to-postgres", passwordlessUrl(pg, "ledger_copy"), "--create"]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await dumpDatabase(pg, "ledger_copy")).toBe(await dumpDatabase(pg, "ledger"));
  });
});

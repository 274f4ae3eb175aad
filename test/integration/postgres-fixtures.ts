// Shared by the PostgreSQL integration tests: a repository, a sample database, and a way to
// compare two databases by their pg_dump output.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { runCairn, tempDir, type CliResult } from "../support/cli.js";
import type { PostgresServer } from "../support/postgres-server.js";

/** A schema with the types, objects and oddities a dump must carry over. */
export const SAMPLE_SCHEMA = `
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL UNIQUE, balance numeric(12,2) NOT NULL DEFAULT 0, tags text[], profile jsonb, avatar bytea, created timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, account int NOT NULL REFERENCES accounts(id), total numeric(12,2), note text);
CREATE INDEX orders_account ON orders(account);
CREATE VIEW big_spenders AS SELECT a.name, sum(o.total) AS spent FROM accounts a JOIN orders o ON o.account = a.id GROUP BY a.name;
CREATE FUNCTION add_tax(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT round($1 * 1.2, 2)';
COMMENT ON TABLE accounts IS 'customers; ''quoted'' and ünïcödé';
INSERT INTO accounts (name, balance, tags, profile, avatar) VALUES
  ('alice', 10.5, ARRAY['a','b'], '{"x": 1}', '\\x00ff10'),
  ('bob "the builder"', 0, NULL, NULL, NULL),
  (E'tab\\there\\nnewline', -3.25, ARRAY[]::text[], '[]', '\\x');
INSERT INTO orders (account, total, note) SELECT 1 + g % 3, g * 1.5, 'order ' || g FROM generate_series(1, 500) g;
`;

/** URI without a password: libpq takes it from PGPASSWORD or PGPASSFILE, as in production. */
export function passwordlessUrl(pg: PostgresServer, db: string): string {
  return `postgresql://${pg.user}@127.0.0.1:${pg.port}/${encodeURIComponent(db)}`;
}

/** The directory dumps of this server land in, inside a snapshot. */
export function serverDir(pg: PostgresServer): string {
  return `/postgres/127.0.0.1-${pg.port}`;
}

export interface TestRepo {
  path: string;
  cairn(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  snapshots(): Promise<Array<{ id: string; paths: string[]; source?: Record<string, string> }>>;
  cleanup(): Promise<void>;
}

/** A fresh repository; `cairn` runs with the server's client programs and PGPASSWORD. */
export async function createRepo(pg: PostgresServer): Promise<TestRepo> {
  const dir = await tempDir("cairn-pg-repo-");
  const path = join(dir.path, "repo");
  const baseEnv = { PGPASSWORD: pg.env.PGPASSWORD, CAIRN_PG_BIN: pg.binDir };
  const cairn = (args: string[], env: NodeJS.ProcessEnv = {}) => runCairn(["-r", path, ...args], { env: { ...baseEnv, ...env } });
  const init = await cairn(["init"]);
  expect(init.code, init.stderr).toBe(0);
  return {
    path,
    cairn,
    snapshots: async () => {
      const r = await cairn(["--json", "snapshots"]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Array<{ id: string; paths: string[]; source?: Record<string, string> }>;
    },
    cleanup: dir.cleanup,
  };
}

/**
 * pg_dump of a database as plain SQL, without the per-dump random `\\restrict` key that
 * pg_dump (15.14 and later) writes, so that two dumps of equal databases are equal.
 */
export async function dumpDatabase(pg: PostgresServer, db: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(join(pg.binDir, "pg_dump"), ["--no-password", `--dbname=${pg.url(db)}`], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (c: Buffer) => chunks.push(c));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`pg_dump ${db}: ${err}`))));
  });
  return withoutRestrictKey(out);
}

export function withoutRestrictKey(dump: string): string {
  return dump.replace(/^\\(un)?restrict \S+$/gm, "\\$1restrict KEY");
}

/** Names of the tables in the public schema. */
export async function tables(pg: PostgresServer, db: string): Promise<string[]> {
  const out = await pg.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  return out.split("\n").filter(Boolean);
}

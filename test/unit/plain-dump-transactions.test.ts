// The filter that keeps a plain dump's large-object sections inside cairn's one transaction:
// it drops exactly their BEGIN; and COMMIT;, nothing in COPY data or in a procedure's body,
// whatever the chunk boundaries.
import { expect, it } from "vitest";
import { withoutLargeObjectTransactions } from "../../src/sources/postgres/plain-dump-transactions.js";

const DUMP = [
  "SET statement_timeout = 0;",
  "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$",
  "BEGIN;",
  "COMMIT;",
  "END",
  "$$;",
  "COPY public.notes (body) FROM stdin;",
  "BEGIN;",
  "SELECT pg_catalog.lo_open('1', 131072);",
  "COMMIT;",
  "\\.",
  "",
  "BEGIN;",
  "",
  "SELECT pg_catalog.lo_open('16385', 131072);",
  "SELECT pg_catalog.lowrite(0, '\\x78');",
  "SELECT pg_catalog.lo_close(0);",
  "",
  "COMMIT;",
  "",
  "GRANT SELECT ON TABLE public.t TO r;",
  "COMMIT;",
  "",
].join("\n");

const EXPECTED = DUMP.replace("\nBEGIN;\n\nSELECT pg_catalog.lo_open('16385'", "\n\nSELECT pg_catalog.lo_open('16385'").replace("lo_close(0);\n\nCOMMIT;\n", "lo_close(0);\n\n");

async function filtered(chunks: Buffer[]): Promise<string> {
  async function* source() {
    yield* chunks;
  }
  const out: Buffer[] = [];
  for await (const chunk of withoutLargeObjectTransactions(source())) out.push(chunk);
  return Buffer.concat(out).toString();
}

it("drops the large objects' BEGIN; and COMMIT; and nothing else", async () => {
  expect(EXPECTED).not.toBe(DUMP);
  expect(await filtered([Buffer.from(DUMP)])).toBe(EXPECTED);
});

it("gives the same output whatever the chunk boundaries", async () => {
  const bytes = Buffer.from(DUMP);
  for (const size of [1, 2, 3, 7, 64]) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
    expect(await filtered(chunks), `chunks of ${size}`).toBe(EXPECTED);
  }
});

it("keeps a dump that does not end in a newline, and a BEGIN; at its very end", async () => {
  expect(await filtered([Buffer.from("SELECT 1;\nBEGIN;")])).toBe("SELECT 1;\nBEGIN;");
});

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

/** The filter's output at several chunk sizes, which must all agree. */
async function filteredAtEverySize(text: string): Promise<string> {
  const bytes = Buffer.from(text);
  const outputs = new Set<string>();
  for (const size of [1, 2, 3, 7, 64, bytes.length]) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
    outputs.add(await filtered(chunks));
  }
  expect(outputs.size).toBe(1);
  return [...outputs][0]!;
}

const LARGE_OBJECTS = ["BEGIN;", "", "SELECT pg_catalog.lo_open('16385', 131072);", "SELECT pg_catalog.lowrite(0, '\\x78');", "SELECT pg_catalog.lo_close(0);", "", "COMMIT;", ""];
// The same without its BEGIN; and COMMIT; lines.
const LARGE_OBJECTS_KEPT = LARGE_OBJECTS.filter((line) => line !== "BEGIN;" && line !== "COMMIT;");

it("leaves alone what only looks like a large-object section: in a function body, a string, a comment, COPY data", async () => {
  const lookalike = ["BEGIN;", "SELECT pg_catalog.lo_open(1, 1);", "COMMIT;"];
  const dump = [
    "\\restrict abc123",
    "SET standard_conforming_strings = on;",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT '",
    ...lookalike,
    "'::text $$;",
    "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT $q$",
    ...lookalike,
    "$q$ $body$;",
    "COMMENT ON TABLE t IS '",
    ...lookalike,
    "it''s';",
    "SELECT E'\\'';",
    "/* BEGIN; /* nested */",
    ...lookalike,
    "*/",
    // A table name with a newline splits the COPY header over two lines.
    'COPY public."nl',
    'tab" (t) FROM stdin;',
    ...lookalike,
    "keep me",
    "\\.",
    ...LARGE_OBJECTS,
    "\\unrestrict abc123",
    "",
  ].join("\n");
  const expected = dump.replace(LARGE_OBJECTS.join("\n"), LARGE_OBJECTS_KEPT.join("\n"));
  expect(expected).not.toBe(dump);
  expect(await filteredAtEverySize(dump)).toBe(expected);
});

it("is not misled by a line in a function body that reads like a COPY header", async () => {
  // The old line filter took this for COPY data and let the large objects' COMMIT; through.
  const dump = ["CREATE FUNCTION h() RETURNS void LANGUAGE plpgsql AS $$", "BEGIN", "COPY public.items FROM stdin;", "END $$;", ...LARGE_OBJECTS, "GRANT EXECUTE ON FUNCTION h() TO r;", ""].join("\n");
  const expected = dump.replace(LARGE_OBJECTS.join("\n"), LARGE_OBJECTS_KEPT.join("\n"));
  expect(await filteredAtEverySize(dump)).toBe(expected);
});

it("passes a very long COPY row through in one piece", async () => {
  const row = "x".repeat(3 * 1024 * 1024);
  const dump = `COPY public.big (b) FROM stdin;\n${row}\n\\.\n${LARGE_OBJECTS.join("\n")}`;
  const chunks: Buffer[] = [];
  const bytes = Buffer.from(dump);
  for (let at = 0; at < bytes.length; at += 65536) chunks.push(bytes.subarray(at, at + 65536));
  expect(await filtered(chunks)).toBe(`COPY public.big (b) FROM stdin;\n${row}\n\\.\n${LARGE_OBJECTS_KEPT.join("\n")}`);
});

it("reads SQL that pg_dump does not write but psql does: copy in any case and with options, a comment before $$, $ inside a name", async () => {
  const lookalike = ["BEGIN;", "SELECT pg_catalog.lo_open(1, 1);", "COMMIT;"];
  const dump = [
    "copy t from stdin;",
    ...lookalike,
    "\\.",
    "COPY t FROM STDIN (FORMAT csv);",
    ...lookalike,
    "\\.",
    "INSERT INTO t SELECT text/**/$$",
    ...lookalike,
    "$$;",
    "SELECT a$$b$ FROM t;",
    ...LARGE_OBJECTS,
  ].join("\n");
  const expected = dump.replace(LARGE_OBJECTS.join("\n"), LARGE_OBJECTS_KEPT.join("\n"));
  expect(expected).not.toBe(dump);
  expect(await filteredAtEverySize(dump)).toBe(expected);
});

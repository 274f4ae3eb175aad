// PostgreSQL backups through the real CLI against a real server: dump, back up, restore into a
// new database, and compare the two databases by their pg_dump output.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { open, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLocalRepository } from "../../src/store/open-local.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { CAIRN_BIN, tempDir } from "../support/cli.js";
import { startPostgres, type PostgresServer } from "../support/postgres-server.js";
import { createRepo, dumpDatabase, passwordlessUrl, SAMPLE_SCHEMA, serverDir, tables, withoutRestrictKey, type TestRepo } from "./postgres-fixtures.js";

let pg: PostgresServer;
let repo: TestRepo;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql("postgres", "CREATE DATABASE shop");
  await pg.psql("shop", SAMPLE_SCHEMA);
  repo = await createRepo(pg);
});

afterAll(async () => {
  await repo?.cleanup();
  await pg?.stop();
});

/** What CREATE DATABASE, ALTER DATABASE, GRANT and COMMENT set, the same whatever the database's name. */
const definitionOf = (db: string, server = pg) =>
  server.psql(
    "postgres",
    `SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, d.datconnlimit,
       (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(d.datacl) a), shobj_description(d.oid, 'pg_database'),
       (SELECT string_agg(coalesce(r.rolname, '*') || '=' || array_to_string(s.setconfig, ','), ' ' ORDER BY r.rolname NULLS FIRST)
          FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = d.oid)
     FROM pg_database d WHERE d.datname = '${db}'`,
  );

describe("postgres backup and restore", () => {
  it("backs up a database as plain SQL and restores it into a new database, identical", async () => {
    const backup = await repo.cairn(["backup", passwordlessUrl(pg, "shop")]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);

    const [snapshot] = await repo.snapshots();
    expect(snapshot!.paths).toEqual([`${serverDir(pg)}/shop.sql`]);
    expect(snapshot!.source?.["postgres.server_version"]).toMatch(/^\d+\.\d+/);
    expect(snapshot!.source?.["postgres.pg_dump_version"]).toMatch(/^pg_dump \(PostgreSQL\) \d+/);
    expect(snapshot!.source?.["postgres.format"]).toBe("plain");
    expect(snapshot!.source?.["postgres.dump_options"]).toContain("--format=plain");
    expect(JSON.stringify(snapshot)).not.toContain(pg.env.PGPASSWORD!);

    const ls = await repo.cairn(["ls", "latest"]);
    expect(ls.stdout.split("\n")).toContain(`${serverDir(pg)}/shop.sql`);

    // The stored file is the dump itself: restored as a file, it is what pg_dump prints.
    const files = await tempDir();
    try {
      const restoreFiles = await repo.cairn(["restore", "latest", "--target", files.path]);
      expect(restoreFiles.code, restoreFiles.stderr).toBe(0);
      const stored = await readFile(join(files.path, serverDir(pg), "shop.sql"), "utf8");
      expect(withoutRestrictKey(stored)).toBe(await dumpDatabase(pg, "shop"));
    } finally {
      await files.cleanup();
    }

    const restore = await repo.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "shop_copy"), "--create"]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`restored ${serverDir(pg)}/shop.sql`);
    expect(await dumpDatabase(pg, "shop_copy")).toBe(await dumpDatabase(pg, "shop"));
    expect(await pg.psql("shop_copy", "SELECT count(*) FROM orders")).toBe("500\n");
  });

  it("keeps the manual path open: cairn dump … | psql", async () => {
    await pg.psql("postgres", "CREATE DATABASE shop_manual");
    const shopSnapshot = (await repo.snapshots()).find((s) => s.paths[0]!.endsWith("/shop.sql"))!;
    const script = `set -o pipefail; "${process.execPath}" "${CAIRN_BIN}" -r "${repo.path}" dump ${shopSnapshot.id} ${serverDir(pg)}/shop.sql | "${pg.binDir}/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "${passwordlessUrl(pg, "shop_manual")}" > /dev/null`;
    const result = spawnSync("bash", ["-c", script], { env: { ...process.env, PGPASSWORD: pg.env.PGPASSWORD }, encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    expect(await dumpDatabase(pg, "shop_manual")).toBe(await dumpDatabase(pg, "shop"));
  });

  it("takes the password from a password file, as libpq does", async () => {
    const dir = await tempDir();
    try {
      const passfile = join(dir.path, "pgpass");
      await writeFile(passfile, `127.0.0.1:${pg.port}:*:${pg.user}:${pg.env.PGPASSWORD}\n`, { mode: 0o600 });
      const backup = await repo.cairn(["backup", `${passwordlessUrl(pg, "shop")}?sslmode=disable&application_name=nightly`], { PGPASSWORD: "", PGPASSFILE: passfile });
      expect(backup.code, backup.stderr).toBe(0);
    } finally {
      await dir.cleanup();
    }
  });

  it("backs up in pg_dump's custom format and restores it with pg_restore", async () => {
    const backup = await repo.cairn(["backup", passwordlessUrl(pg, "shop"), "--pg-format", "custom"]);
    expect(backup.code, backup.stderr).toBe(0);
    const latest = (await repo.snapshots()).at(-1)!;
    expect(latest.paths).toEqual([`${serverDir(pg)}/shop.dump`]);
    expect(latest.source?.["postgres.format"]).toBe("custom");

    const restore = await repo.cairn(["restore", latest.id, "--to-postgres", passwordlessUrl(pg, "shop_custom"), "--create"]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await dumpDatabase(pg, "shop_custom")).toBe(await dumpDatabase(pg, "shop"));
  });

  it("backs up the globals and every database of a server with --all-databases", async () => {
    await pg.psql("postgres", "CREATE DATABASE crm; CREATE ROLE auditor LOGIN");
    await pg.psql("crm", "CREATE TABLE contacts (id int PRIMARY KEY, email text); INSERT INTO contacts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 100) g; GRANT SELECT ON contacts TO auditor");
    const backup = await repo.cairn(["backup", `postgresql://${pg.user}@127.0.0.1:${pg.port}/`, "--all-databases"]);
    expect(backup.code, backup.stderr).toBe(0);

    const latest = (await repo.snapshots()).at(-1)!;
    expect(latest.paths).toEqual([serverDir(pg)]);
    expect(latest.source?.["postgres.databases"]!.split(",")).toEqual(expect.arrayContaining(["crm", "postgres", "shop", "template1"]));
    const ls = await repo.cairn(["ls", latest.id, serverDir(pg)]);
    const listed = ls.stdout.split("\n");
    for (const name of ["globals.sql", "crm.sql", "postgres.sql", "shop.sql", "template1.sql"]) expect(listed).toContain(`${serverDir(pg)}/${name}`);
    expect(listed.some((l) => l.endsWith("template0.sql"))).toBe(false);

    const files = await tempDir();
    try {
      const globals = await repo.cairn(["restore", latest.id, "--target", files.path]);
      expect(globals.code, globals.stderr).toBe(0);
      expect(await readFile(join(files.path, serverDir(pg), "globals.sql"), "utf8")).toMatch(/CREATE ROLE auditor;/);
    } finally {
      await files.cleanup();
    }

    // Several dumps: restore needs to be told which one.
    const ambiguous = await repo.cairn(["restore", latest.id, "--to-postgres", passwordlessUrl(pg, "crm_copy"), "--create"]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/database dumps .*crm\.sql.*choose one with SNAPSHOT:PATH/);

    // --create starts from template0: a table the site added to template1 must not clash.
    await pg.psql("template1", "CREATE TABLE contacts (id int)");
    try {
      const restore = await repo.cairn(["restore", `${latest.id}:${serverDir(pg)}/crm.sql`, "--to-postgres", passwordlessUrl(pg, "crm_copy"), "--create"]);
      expect(restore.code, restore.stderr).toBe(0);
    } finally {
      await pg.psql("template1", "DROP TABLE contacts");
    }
    expect(await dumpDatabase(pg, "crm_copy")).toBe(await dumpDatabase(pg, "crm"));
  });
});

describe("a database named globals", () => {
  it("is backed up beside the globals file, alone or with --all-databases, and restored by default", async () => {
    await pg.psql("postgres", "CREATE DATABASE globals");
    await pg.psql("globals", "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)");
    const own = await createRepo(pg);
    try {
      const alone = await own.cairn(["backup", passwordlessUrl(pg, "globals")]);
      expect(alone.code, alone.stderr).toBe(0);
      const restore = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "globals_copy"), "--create"]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await pg.psql("globals_copy", "SELECT x FROM kept")).toBe("42\n");
      const all = await own.cairn(["backup", `postgresql://${pg.user}@127.0.0.1:${pg.port}/`, "--all-databases"]);
      expect(all.code, all.stderr).toBe(0);
      const listing = await own.cairn(["ls", "latest", serverDir(pg), "--no-recursive"]);
      expect(listing.stdout).toContain(`${serverDir(pg)}/globals.sql\n`);
      expect(listing.stdout).toContain(`${serverDir(pg)}/%67lobals.sql\n`);
    } finally {
      await own.cleanup();
      await pg.psql("postgres", "DROP DATABASE globals; DROP DATABASE globals_copy");
    }
  });
});

describe("restore into PostgreSQL stops at the first error and commits nothing", () => {
  it("reports the server's error and leaves the target database as it was", async () => {
    // The dump creates accounts first; the table it creates last already exists here.
    await pg.psql("postgres", "CREATE DATABASE partial");
    await pg.psql("partial", "CREATE TABLE orders (x int)");
    const shopSnapshot = (await repo.snapshots()).find((s) => s.paths[0]!.endsWith("/shop.sql"))!;
    const restore = await repo.cairn(["restore", shopSnapshot.id, "--to-postgres", passwordlessUrl(pg, "partial")]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/^cairn: restore of .*shop\.sql into postgresql:\/\/cairn@127\.0\.0\.1:\d+\/partial stopped at the first error, nothing was committed: psql exited with code 3: .*ERROR: +relation "orders" already exists/m);
    expect(await tables(pg, "partial")).toEqual(["orders"]);
  });

  it("keeps a dump with large objects in one transaction: a failure after them commits nothing", async () => {
    // pg_dump wraps large objects in their own BEGIN/COMMIT; the GRANT after them fails here.
    await pg.psql("postgres", "CREATE DATABASE blobs; CREATE ROLE reader");
    await pg.psql("blobs", "CREATE TABLE t (x int PRIMARY KEY); INSERT INTO t VALUES (1); SELECT lo_from_bytea(0, 'large'); GRANT SELECT ON t TO reader");
    // A body with lines that read like a large-object section must come back as it was.
    await pg.psql("blobs", "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT '\nBEGIN;\nSELECT pg_catalog.lo_open(1, 1);\nCOMMIT;\n'::text $$");
    const own = await createRepo(pg);
    try {
      expect((await own.cairn(["backup", passwordlessUrl(pg, "blobs")])).code).toBe(0);
      await pg.psql("blobs", "REVOKE SELECT ON t FROM reader");
      await pg.psql("postgres", "DROP ROLE reader");
      const failed = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "blobs_copy"), "--create"]);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/stopped at the first error, nothing was committed \(database "blobs_copy" was created and is left empty\): .*role "reader" does not exist/);
      expect(await tables(pg, "blobs_copy")).toEqual([]);
      expect(await pg.psql("blobs_copy", "SELECT count(*) FROM pg_largeobject_metadata")).toBe("0\n");

      // With the role back, the same dump restores whole, large object included.
      await pg.psql("postgres", "CREATE ROLE reader");
      expect((await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "blobs_copy")])).code).toBe(0);
      expect(await pg.psql("blobs_copy", "SELECT count(*) FROM t")).toBe("1\n");
      expect(await pg.psql("blobs_copy", "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata")).toBe("large\n");
      const body = "SELECT md5(prosrc) FROM pg_proc WHERE proname = 'f'";
      expect(await pg.psql("blobs_copy", body)).toBe(await pg.psql("blobs", body));
    } finally {
      await own.cleanup();
    }
  });

  it("130: SIGTERM while the dump is sent stops the restore, commits nothing and releases the lock", async () => {
    await pg.psql("postgres", "CREATE DATABASE long");
    await pg.psql("long", "CREATE TABLE early (x int); CREATE TABLE rows (id int, payload text); INSERT INTO rows SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 300000) g");
    const own = await createRepo(pg);
    try {
      expect((await own.cairn(["backup", passwordlessUrl(pg, "long")])).code).toBe(0);
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", own.path, "restore", "latest", "--to-postgres", passwordlessUrl(pg, "long_copy"), "--create"], {
        env: { ...process.env, PGPASSWORD: pg.env.PGPASSWORD, CAIRN_PG_BIN: pg.binDir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, "close");
      // Once the database exists, psql is being fed: the rows take a few seconds to send.
      while (!stderr.includes("created database")) await once(child.stderr, "data");
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill("SIGTERM");
      const [code] = await exited;
      expect(code, stderr).toBe(130);
      expect(stderr).toMatch(/^cairn: restore of .*long\.sql into .* interrupted, nothing was committed \(database "long_copy" was created and is left empty\)$/m);
      expect(await tables(pg, "long_copy")).toEqual([]);
      expect(await readdir(join(own.path, "locks"))).toEqual([]);
    } finally {
      await own.cleanup();
    }
  });

  it("refuses to create a database that exists, and to restore into one that does not", async () => {
    const shopSnapshot = (await repo.snapshots()).find((s) => s.paths[0]!.endsWith("/shop.sql"))!;
    const exists = await repo.cairn(["restore", shopSnapshot.id, "--to-postgres", passwordlessUrl(pg, "shop"), "--create"]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/could not create database "shop": .*database "shop" already exists/);

    const missing = await repo.cairn(["restore", shopSnapshot.id, "--to-postgres", passwordlessUrl(pg, "nowhere")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/database "nowhere" does not exist/);
  });

  it("verifies every blob it sends: a damaged dump rolls back, even after part of it was sent", async () => {
    await pg.psql("postgres", "CREATE DATABASE wide");
    // Several chunks of incompressible-ish rows, so the damage is far from the start of the dump.
    await pg.psql("wide", "CREATE TABLE a (id int); CREATE TABLE b (id int, payload text); INSERT INTO b SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g");
    const own = await createRepo(pg);
    try {
      expect((await own.cairn(["backup", passwordlessUrl(pg, "wide")])).code).toBe(0);
      const [snapshot] = await own.snapshots();
      const lastBlob = await (async () => {
        const r = await openLocalRepository(own.path);
        try {
          const node = await findNode(r, (await r.loadSnapshot(snapshot!.id)).tree, snapshot!.paths[0]!);
          expect(node!.content!.length).toBeGreaterThan(2);
          const location = r.lookupBlob(node!.content!.at(-2)!)!;
          return { pack: join(own.path, "data", location.packId.slice(0, 2), location.packId), at: location.offset + Math.floor(location.storedLength / 2) };
        } finally {
          await r.close();
        }
      })();
      const file = await open(lastBlob.pack, "r+");
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, lastBlob.at);
      await file.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, lastBlob.at);
      await file.close();

      const restore = await own.cairn(["restore", snapshot!.id, "--to-postgres", passwordlessUrl(pg, "wide_copy"), "--create"]);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/restore of .*wide\.sql into .*wide_copy stopped, nothing was committed \(database "wide_copy" was created and is left empty\)/);
      expect(await tables(pg, "wide_copy")).toEqual([]);
    } finally {
      await own.cleanup();
    }
  });
});

describe("a database's own definition", () => {
  it("is backed up beside each dump and restored with --create, under another name too", async () => {
    await pg.psql("postgres", "CREATE ROLE ledger_owner; CREATE ROLE ledger_reader");
    await pg.psql("postgres", "CREATE DATABASE legacy OWNER ledger_owner ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0 CONNECTION LIMIT 7");
    await pg.psql(
      "postgres",
      `COMMENT ON DATABASE legacy IS 'till 2019, ''café'' edition'; ALTER DATABASE legacy SET work_mem = '7MB';
       ALTER ROLE ledger_owner IN DATABASE legacy SET search_path = ledger, public;
       REVOKE CONNECT, TEMPORARY ON DATABASE legacy FROM PUBLIC; GRANT CONNECT ON DATABASE legacy TO ledger_reader`,
    );
    await pg.psql("legacy", "CREATE TABLE ledger (id int PRIMARY KEY, entry text); INSERT INTO ledger VALUES (1, 'café crème')");
    const own = await createRepo(pg);
    try {
      const backup = await own.cairn(["backup", `postgresql://${pg.user}@127.0.0.1:${pg.port}/`, "--all-databases"]);
      expect(backup.code, backup.stderr).toBe(0);
      const listing = (await own.cairn(["ls", "latest", `${serverDir(pg)}/create-database`])).stdout.split("\n");
      for (const db of ["legacy", "postgres", "template1"]) expect(listing).toContain(`${serverDir(pg)}/create-database/${db}.sql`);

      const restore = await own.cairn(["restore", `latest:${serverDir(pg)}/legacy.sql`, "--to-postgres", passwordlessUrl(pg, "legacy restored"), "--create"]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.stderr).toContain(`created database "legacy restored" as "legacy" was`);
      const original = await definitionOf("legacy");
      expect(original).toBe(
        "ledger_owner|LATIN1|C|C|7|ledger_owner=CTc/ledger_owner ledger_reader=c/ledger_owner|till 2019, 'café' edition|*=work_mem=7MB ledger_owner=search_path=ledger, public\n",
      );
      expect(await definitionOf("legacy restored")).toBe(original);
      expect(await dumpDatabase(pg, "legacy restored")).toBe(await dumpDatabase(pg, "legacy"));

      // A grant to a role the target server lacks: the contents are in, and the message says what is not.
      await pg.psql("postgres", `DROP DATABASE "legacy restored"; REVOKE CONNECT ON DATABASE legacy FROM ledger_reader; DROP ROLE ledger_reader`);
      const partial = await own.cairn(["restore", `latest:${serverDir(pg)}/legacy.sql`, "--to-postgres", passwordlessUrl(pg, "legacy_partial"), "--create"]);
      expect(partial.code).toBe(1);
      expect(partial.stderr).toMatch(/the contents were restored and committed, but the database's settings, grants and comment were not set: psql exited with code 3: .*role "ledger_reader" does not exist/);
      expect(await pg.psql("legacy_partial", "SELECT entry FROM ledger")).toBe("café crème\n");
      // All or nothing: the comment and settings before the failed grant were not kept either.
      expect(await definitionOf("legacy_partial")).toBe("ledger_owner|LATIN1|C|C|-1|||\n");

      // An owner the target server lacks: the database is made, but the message says it is empty.
      await pg.psql("postgres", `DROP DATABASE legacy; DROP DATABASE legacy_partial; DROP ROLE ledger_owner`);
      const ownerless = await own.cairn(["restore", `latest:${serverDir(pg)}/legacy.sql`, "--to-postgres", passwordlessUrl(pg, "legacy"), "--create"]);
      expect(ownerless.code).toBe(1);
      expect(ownerless.stderr).toMatch(/could not apply all of the definition of "legacy" to database "legacy" \(database "legacy" was created and is left empty, perhaps without its owner: drop it before trying again\): psql exited with code 3: .*role "ledger_owner" does not exist/);
      expect(await tables(pg, "legacy")).toEqual([]);

      // Its file is not a dump: named, it is refused; the snapshot's only dump is still found.
      const named = await own.cairn(["restore", `latest:${serverDir(pg)}/create-database/legacy.sql`, "--to-postgres", passwordlessUrl(pg, "x")]);
      expect(named.code).toBe(2);
      expect(named.stderr).toMatch(/create-database\/legacy\.sql is the definition of a database, not a dump/);
    } finally {
      await own.cleanup();
      for (const db of ["legacy", "legacy restored", "legacy_partial"]) await pg.psql("postgres", `DROP DATABASE IF EXISTS "${db}"`);
      await pg.psql("postgres", "DROP ROLE IF EXISTS ledger_owner; DROP ROLE IF EXISTS ledger_reader");
    }
  });

  it("is taken in the database's own encoding, so a comment written from a database of another encoding does not stop the backup", async () => {
    await pg.psql("postgres", "CREATE DATABASE eucdb ENCODING 'EUC_JP' LOCALE 'C' TEMPLATE template0");
    await pg.psql("postgres", "COMMENT ON DATABASE eucdb IS 'Japanese shop — café'");
    const own = await createRepo(pg);
    try {
      const backup = await own.cairn(["backup", passwordlessUrl(pg, "eucdb")]);
      expect(backup.code, backup.stderr).toBe(0);
      // The comment's bytes are UTF-8, which EUC_JP does not accept back (pg_dumpall's script
      // fails the same way): the database comes back with its encoding and locale, the message says what did not.
      const restore = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "eucdb_copy"), "--create"]);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/the contents were restored and committed, but the database's settings, grants and comment were not set: .*invalid byte sequence for encoding "EUC_JP"/);
      expect(await definitionOf("eucdb_copy")).toBe("cairn|EUC_JP|C|C|-1|||\n");
      // A new name outside ASCII cannot be written in EUC_JP: refused before anything is made.
      const refused = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "café"), "--create"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/create-database\/eucdb\.sql: its definition is in the EUC_JP encoding, in which the name "café" cannot be written: create the database by hand and restore without --create/);
      expect(await pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'café'")).toBe("0\n");
    } finally {
      await own.cleanup();
      for (const db of ["eucdb", "eucdb_copy"]) await pg.psql("postgres", `DROP DATABASE IF EXISTS ${db}`);
    }
  });

  it("is left out, with a warning, for a name with a line break, which pg_restore refuses", async () => {
    await pg.psql("postgres", `CREATE DATABASE "new\nline"`);
    const own = await createRepo(pg);
    try {
      const backup = await own.cairn(["backup", passwordlessUrl(pg, "new\nline")]);
      expect(backup.code).toBe(3);
      expect(backup.stderr).toMatch(/the database's name holds a line break, so its definition \(owner, encoding, settings, grants\) cannot be taken; restore --create makes a plain database/);
      const restore = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "newline_copy"), "--create"]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await dumpDatabase(pg, "newline_copy")).toBe(await dumpDatabase(pg, "new\nline"));
    } finally {
      await own.cleanup();
      for (const db of ["new\nline", "newline_copy"]) await pg.psql("postgres", `DROP DATABASE IF EXISTS "${db}"`);
    }
  });

  it("130: SIGTERM while CREATE DATABASE waits stops psql at once", async () => {
    await pg.psql("postgres", "CREATE DATABASE waiting");
    const own = await createRepo(pg);
    // CREATE DATABASE … TEMPLATE template0 waits for this lock on template0 until it is released.
    const locker = spawn(join(pg.binDir, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url("postgres")], { stdio: ["pipe", "ignore", "ignore"] });
    try {
      expect((await own.cairn(["backup", passwordlessUrl(pg, "waiting")])).code).toBe(0);
      locker.stdin.write("BEGIN; COMMENT ON DATABASE template0 IS 'locked';\n");
      const restore = spawn(process.execPath, [CAIRN_BIN, "-r", own.path, "restore", "latest", "--to-postgres", passwordlessUrl(pg, "waiting_copy"), "--create"], {
        env: { ...process.env, PGPASSWORD: pg.env.PGPASSWORD, CAIRN_PG_BIN: pg.binDir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      restore.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      for (let i = 0; i < 100; i++) {
        const waiting = await pg.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CREATE DATABASE%'");
        if (waiting === "1\n") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const stoppedAt = Date.now();
      restore.kill("SIGTERM");
      const [code] = (await once(restore, "close")) as [number];
      expect(code).toBe(130);
      expect(Date.now() - stoppedAt).toBeLessThan(5000);
      expect(stderr).toMatch(/restore of .*waiting\.sql into .*waiting_copy: interrupted while creating database "waiting_copy"$/m);
      // The statement was cancelled on the server, not left to finish once the lock is gone.
      locker.stdin.end("ROLLBACK;\n");
      await once(locker, "close");
      await new Promise((r) => setTimeout(r, 500));
      expect(await pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'waiting_copy'")).toBe("0\n");
    } finally {
      if (locker.exitCode === null) {
        locker.stdin.end("ROLLBACK;\n");
        await once(locker, "close");
      }
      await own.cleanup();
      for (const db of ["waiting", "waiting_copy"]) await pg.psql("postgres", `DROP DATABASE IF EXISTS ${db}`);
    }
  });

  it("is restored with a database backed up alone, in the custom format too", async () => {
    await pg.psql("postgres", "CREATE DATABASE solo ENCODING 'SQL_ASCII' LOCALE 'C' TEMPLATE template0; COMMENT ON DATABASE solo IS 'on its own'");
    const own = await createRepo(pg);
    try {
      const backup = await own.cairn(["backup", passwordlessUrl(pg, "solo"), "--pg-format", "custom"]);
      expect(backup.code, backup.stderr).toBe(0);
      const restore = await own.cairn(["restore", "latest", "--to-postgres", passwordlessUrl(pg, "solo_copy"), "--create"]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await definitionOf("solo_copy")).toBe(await definitionOf("solo"));
      expect(await definitionOf("solo_copy")).toMatch(/^cairn\|SQL_ASCII\|C\|C\|-1\|\|on its own\|\n$/);
    } finally {
      await own.cleanup();
      for (const db of ["solo", "solo_copy"]) await pg.psql("postgres", `DROP DATABASE IF EXISTS ${db}`);
    }
  });
});

describe("globals.sql restored into a server", () => {
  it("skips the roles the server has, re-creates the missing ones with their attributes and memberships", async () => {
    await pg.psql("postgres", `CREATE ROLE "night owl" LOGIN CONNECTION LIMIT 3 PASSWORD 'hoot'; CREATE ROLE readers; GRANT readers TO "night owl"`);
    const own = await createRepo(pg);
    try {
      const backup = await own.cairn(["backup", `postgresql://${pg.user}@127.0.0.1:${pg.port}/`, "--all-databases"]);
      expect(backup.code, backup.stderr).toBe(0);
      await pg.psql("postgres", `DROP ROLE "night owl"`);

      const restore = await own.cairn(["restore", `latest:${serverDir(pg)}/globals.sql`, "--to-postgres", passwordlessUrl(pg, "postgres")]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.stderr).toMatch(/left out the CREATE of what the server has already \(the ALTER ROLE after each still applies\): .*role "cairn"/);
      expect(restore.stderr).not.toContain('role "night owl"');
      expect(await pg.psql("postgres", `SELECT rolcanlogin, rolconnlimit, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'night owl'`)).toBe("t|3|t\n");
      expect(await pg.psql("postgres", `SELECT pg_has_role('night owl', 'readers', 'MEMBER')`)).toBe("t\n");
    } finally {
      await own.cleanup();
      await pg.psql("postgres", `DROP ROLE IF EXISTS "night owl"; DROP ROLE IF EXISTS readers`);
    }
  });
});

describe("a whole server", () => {
  it("is restored into another server with one command, each database as it was, and refused where databases exist", async () => {
    await pg.psql("postgres", "CREATE ROLE stock_keeper LOGIN CONNECTION LIMIT 5");
    await pg.psql("postgres", "CREATE DATABASE inventory OWNER stock_keeper ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0; COMMENT ON DATABASE inventory IS 'stock'");
    await pg.psql("inventory", "CREATE TABLE items (sku text PRIMARY KEY, qty int); INSERT INTO items VALUES ('A-1', 3), ('B-2', 0); ALTER TABLE items OWNER TO stock_keeper");
    const own = await createRepo(pg);
    const other = await startPostgres();
    const otherPassword = { PGPASSWORD: "the new servers own" };
    try {
      // The role the restore connects as: read-only by default on the old server, with another password there.
      await pg.psql("postgres", "ALTER ROLE cairn SET default_transaction_read_only = on");
      const backup = await own.cairn(["backup", `postgresql://${pg.user}@127.0.0.1:${pg.port}/`, "--all-databases"]);
      await pg.psql("postgres", "SET default_transaction_read_only = off; ALTER ROLE cairn RESET default_transaction_read_only");
      expect(backup.code, backup.stderr).toBe(0);
      await other.psql("postgres", `ALTER ROLE cairn PASSWORD '${otherPassword.PGPASSWORD}'`);
      const databases = (await own.snapshots()).at(-1)!.source!["postgres.databases"]!.split(",");
      expect(databases).toEqual(expect.arrayContaining(["inventory", "shop", "postgres", "template1"]));

      const target = `postgresql://${other.user}@127.0.0.1:${other.port}/`;
      const restore = await own.cairn(["restore", "latest", "--to-postgres", target, "--all-databases"], otherPassword);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.stdout).toContain(`restored ${serverDir(pg)}: ${databases.length} databases and the roles`);
      expect(restore.stderr).toMatch(/left out the CREATE of what the server has already \(the ALTER ROLE after each still applies\): .*role "cairn"/);
      expect(restore.stderr).toContain(`kept the password of "cairn", the role this restore connects as`);
      // As the old server had it; then back to the test server's password and a writable default.
      const asRestorer = (sql: string) =>
        spawnSync(join(other.binDir, "psql"), ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", `postgresql://cairn@127.0.0.1:${other.port}/postgres`, "-c", sql], {
          env: { ...process.env, ...otherPassword, PGOPTIONS: "-c default_transaction_read_only=off" },
          encoding: "utf8",
        }).stdout;
      expect(asRestorer("SELECT rolconfig FROM pg_roles WHERE rolname = 'cairn'")).toBe("{default_transaction_read_only=on}\n");
      asRestorer(`ALTER ROLE cairn PASSWORD '${other.env.PGPASSWORD}'; ALTER ROLE cairn RESET default_transaction_read_only`);
      for (const db of databases) expect(await dumpDatabase(other, db), db).toBe(await dumpDatabase(pg, db));
      expect(await definitionOf("inventory", other)).toBe(await definitionOf("inventory"));
      expect(await definitionOf("inventory", other)).toMatch(/^stock_keeper\|LATIN1\|C\|C\|-1\|\|stock\|\n$/);
      expect(await other.psql("postgres", "SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'stock_keeper'")).toBe("t|5\n");

      // Again: the databases are there now, so nothing is touched.
      await other.psql("inventory", "INSERT INTO items VALUES ('C-3', 9)");
      const again = await own.cairn(["restore", "latest", "--to-postgres", target, "--all-databases"], { PGPASSWORD: other.env.PGPASSWORD });
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/the server already has .*"inventory".*: drop them, or restore the other databases one by one; nothing was restored/);
      expect(await other.psql("inventory", "SELECT count(*) FROM items")).toBe("3\n");
    } finally {
      await other.stop();
      await own.cleanup();
      await pg.psql("postgres", "DROP DATABASE IF EXISTS inventory; DROP ROLE IF EXISTS stock_keeper");
    }
  });
});

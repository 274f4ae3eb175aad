// A database's stored definition (pg_restore --create's output for its own entries), split into
// what creates it and what sets its properties afterwards, and renamed to the database restored
// into: only names right after DATABASE change, never text inside strings or comments.
import { describe, expect, it } from "vitest";
import { planCreateDatabase, sameDefinition } from "../../src/sources/postgres/create-database-script.js";

/** As pg_restore 15 prints it, with the oddities a name and a comment can hold. */
const DEFINITION = [
  "--",
  "-- PostgreSQL database dump",
  "--",
  "\\restrict K3y",
  "SET client_encoding = 'UTF8';",
  "--",
  '-- Name: My "DB"; Type: DATABASE; Schema: -; Owner: app',
  "--",
  "",
  `CREATE DATABASE "My ""DB""" WITH TEMPLATE = template0 ENCODING = 'LATIN1' LOCALE_PROVIDER = libc LOCALE = 'C';`,
  "",
  "",
  `ALTER DATABASE "My ""DB""" OWNER TO app;`,
  "",
  "\\unrestrict K3y",
  "\\encoding UTF8",
  `\\connect -reuse-previous=on "dbname='My ""DB""'"`,
  "",
  "\\restrict K3y",
  "SET client_encoding = 'UTF8';",
  `COMMENT ON DATABASE "My ""DB""" IS 'DATABASE "My ""DB""" it''s
\\connect elsewhere';`,
  `/* DATABASE "My ""DB""" /* nested */ */ ALTER DATABASE "My ""DB""" SET search_path TO E'a\\'DATABASE "My ""DB"""';`,
  `ALTER ROLE app IN DATABASE "My ""DB""" SET work_mem TO '7MB';`,
  "\\unrestrict K3y",
  `\\connect -reuse-previous=on "dbname='My ""DB""'"`,
  "\\restrict K3y",
  `REVOKE CONNECT,TEMPORARY ON DATABASE "My ""DB""" FROM PUBLIC;`,
  `GRANT CONNECT ON DATABASE "My ""DB""" TO "DATABASE";`,
  "\\unrestrict K3y",
  "",
].join("\n");

describe("planCreateDatabase", () => {
  const plan = planCreateDatabase(Buffer.from(DEFINITION), "shop copy");
  const create = plan.create.toString();
  const properties = plan.properties.toString();

  it("knows the name the database had", () => {
    expect(plan.original).toBe('My "DB"');
  });

  it("creates under the new name, up to the first \\connect, which it leaves out", () => {
    expect(create).toContain(`CREATE DATABASE "shop copy" WITH TEMPLATE = template0 ENCODING = 'LATIN1' LOCALE_PROVIDER = libc LOCALE = 'C';`);
    expect(create).toContain(`ALTER DATABASE "shop copy" OWNER TO app;`);
    expect(create).toMatch(/\\unrestrict K3y\n\\encoding UTF8\n$/);
    expect(create).not.toContain("COMMENT");
  });

  it("sets the properties on the new name, without any \\connect", () => {
    expect(properties).not.toMatch(/^\\connect -reuse/m);
    expect(properties).toContain(`ALTER ROLE app IN DATABASE "shop copy" SET work_mem TO '7MB';`);
    expect(properties).toContain(`REVOKE CONNECT,TEMPORARY ON DATABASE "shop copy" FROM PUBLIC;`);
    expect(properties).toContain(`GRANT CONNECT ON DATABASE "shop copy" TO "DATABASE";`);
    expect(properties.match(/\\restrict K3y/g)).toHaveLength(2);
    expect(properties.match(/\\unrestrict K3y/g)).toHaveLength(2);
  });

  it("leaves strings and comments as they were, even where they read like the statements", () => {
    expect(properties).toContain(`COMMENT ON DATABASE "shop copy" IS 'DATABASE "My ""DB""" it''s\n\\connect elsewhere';`);
    expect(properties).toContain(`/* DATABASE "My ""DB""" /* nested */ */ ALTER DATABASE "shop copy" SET search_path TO E'a\\'DATABASE "My ""DB"""';`);
  });

  it("renames bare names, and writes a new name with quotes and UTF-8 quoted", () => {
    const bare = "SET client_encoding = 'UTF8';\nCREATE DATABASE shop WITH TEMPLATE = template0;\nALTER DATABASE shop OWNER TO shop;\n\\connect shop\nCOMMENT ON DATABASE shop IS 'shop';\nGRANT CONNECT ON DATABASE shop_old TO shop;\n";
    const renamed = planCreateDatabase(Buffer.from(bare), 'Läden "2"');
    expect(renamed.original).toBe("shop");
    expect(renamed.create.toString()).toBe(`SET client_encoding = 'UTF8';\nCREATE DATABASE "Läden ""2""" WITH TEMPLATE = template0;\nALTER DATABASE "Läden ""2""" OWNER TO shop;\n`);
    expect(renamed.properties.toString()).toBe(`\nCOMMENT ON DATABASE "Läden ""2""" IS 'shop';\nGRANT CONNECT ON DATABASE shop_old TO shop;\n`);
  });

  it("passes bytes of other encodings through untouched", () => {
    const latin1 = Buffer.concat([Buffer.from("CREATE DATABASE \"caf"), Buffer.from([0xe9]), Buffer.from("\";\n\\connect x\nCOMMENT ON DATABASE \"caf"), Buffer.from([0xe9]), Buffer.from("\" IS '"), Buffer.from([0xff, 0xfe]), Buffer.from("';\n")]);
    const plan = planCreateDatabase(latin1, "t");
    expect(plan.create).toEqual(Buffer.from('CREATE DATABASE "t";\n'));
    expect(plan.properties).toEqual(Buffer.concat([Buffer.from(`\nCOMMENT ON DATABASE "t" IS '`), Buffer.from([0xff, 0xfe]), Buffer.from("';\n")]));
  });

  it("refuses a name outside ASCII where the definition's encoding cannot hold it", () => {
    const latin1 = "SET client_encoding = 'LATIN1';\nCREATE DATABASE shop;\n";
    expect(() => planCreateDatabase(Buffer.from(latin1), "Läden")).toThrow(/its definition is in the LATIN1 encoding, in which the name "Läden" cannot be written: create the database by hand and restore without --create/);
    expect(planCreateDatabase(Buffer.from(latin1), "laden").create.toString()).toContain('CREATE DATABASE "laden";');
    expect(planCreateDatabase(Buffer.from(latin1.replace("LATIN1", "SQL_ASCII")), "Läden").create.toString()).toContain('CREATE DATABASE "Läden";');
  });

  it("leaves a role called database alone", () => {
    const script = `CREATE DATABASE "with";\n\\connect "with"\nGRANT CONNECT ON DATABASE "with" TO database WITH GRANT OPTION;\nALTER ROLE database IN DATABASE "with" SET x TO '1';\n`;
    expect(planCreateDatabase(Buffer.from(script), "w2").properties.toString()).toBe(`\nGRANT CONNECT ON DATABASE "w2" TO database WITH GRANT OPTION;\nALTER ROLE database IN DATABASE "w2" SET x TO '1';\n`);
  });

  it("refuses a definition without CREATE DATABASE", () => {
    expect(() => planCreateDatabase(Buffer.from("-- CREATE DATABASE x;\nSELECT 'CREATE DATABASE y';\n"), "t")).toThrow(/no CREATE DATABASE statement/);
  });
});

describe("sameDefinition", () => {
  it("ignores the random keys of the \\restrict lines, and nothing else", () => {
    const other = DEFINITION.replace(/K3y/g, "Q9z");
    expect(sameDefinition(Buffer.from(DEFINITION), Buffer.from(other))).toBe(true);
    expect(sameDefinition(Buffer.from(DEFINITION), Buffer.from(other.replace("'7MB'", "'8MB'")))).toBe(false);
    expect(sameDefinition(Buffer.from(DEFINITION), Buffer.from(other.replace("\\restrict Q9z\n", "")))).toBe(false);
    // A comment's line that reads like one is the comment's text, compared as it is.
    const runbook = (key: string) => Buffer.from(`CREATE DATABASE x;\n\\connect x\nCOMMENT ON DATABASE x IS 'Runbook:\n\\restrict ${key}\nend';\n`);
    expect(sameDefinition(runbook("ALPHA"), runbook("OMEGA"))).toBe(false);
  });
});

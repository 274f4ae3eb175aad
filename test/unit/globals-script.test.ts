// globals.sql restored into a server that has some of its roles and tablespaces: their CREATEs
// (and nothing else) are left out, so the restore does not stop at "already exists".
import { expect, it } from "vitest";
import { withoutExistingGlobals } from "../../src/sources/postgres/globals-script.js";

const GLOBALS = [
  "SET standard_conforming_strings = on;",
  "",
  "--",
  "-- Roles",
  "--",
  "",
  "CREATE ROLE admin;",
  "ALTER ROLE admin WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;",
  'CREATE ROLE "night owl";',
  `ALTER ROLE "night owl" WITH LOGIN CONNECTION LIMIT 3 PASSWORD 'CREATE ROLE admin;';`,
  'CREATE ROLE "Zoë";',
  `COMMENT ON ROLE "Zoë" IS 'was: CREATE ROLE admin;';`,
  "CREATE ROLE admin2 WITH LOGIN;",
  "GRANT admin TO \"night owl\" GRANTED BY admin;",
  "",
  "CREATE TABLESPACE fast OWNER admin LOCATION '/srv/fast';",
  "CREATE TABLESPACE slow OWNER admin LOCATION '/srv/slow';",
  "",
].join("\n");

it("leaves out the CREATEs of the roles and tablespaces the server has, and nothing else", () => {
  const existing = { roles: new Set(["admin", "night owl", Buffer.from("Zoë").toString("latin1"), "admin2"]), tablespaces: new Set(["fast"]) };
  const { script, leftOut } = withoutExistingGlobals(Buffer.from(GLOBALS), existing, "nobody");
  expect(leftOut).toEqual(['role "admin"', 'role "night owl"', 'role "Zoë"', 'tablespace "fast"']);
  expect(script.toString()).toBe(
    GLOBALS.replace("CREATE ROLE admin;\n", "")
      .replace('CREATE ROLE "night owl";\n', "")
      .replace('CREATE ROLE "Zoë";\n', "")
      .replace("CREATE TABLESPACE fast OWNER admin LOCATION '/srv/fast';\n", ""),
  );
  // A CREATE ROLE with attributes is not pg_dumpall's and is kept; so are strings that read like one.
  expect(script.toString()).toContain("CREATE ROLE admin2 WITH LOGIN;");
  expect(script.toString()).toContain(`PASSWORD 'CREATE ROLE admin;'`);
});

it("changes nothing on a server that has none of them", () => {
  const { script, leftOut } = withoutExistingGlobals(Buffer.from(GLOBALS), { roles: new Set(), tablespaces: new Set() });
  expect(leftOut).toEqual([]);
  expect(script.toString()).toBe(GLOBALS);
});

it("keeps the password of the role the restore connects as, and only its password", () => {
  const { script, keptPassword } = withoutExistingGlobals(Buffer.from(GLOBALS), { roles: new Set(), tablespaces: new Set() }, "night owl");
  expect(keptPassword).toBe(true);
  expect(script.toString()).toContain(`ALTER ROLE "night owl" WITH LOGIN CONNECTION LIMIT 3;`);
  expect(script.toString()).toBe(GLOBALS.replace(` PASSWORD 'CREATE ROLE admin;'`, ""));
  expect(withoutExistingGlobals(Buffer.from(GLOBALS), { roles: new Set(), tablespaces: new Set() }, "admin").keptPassword).toBe(false);
});

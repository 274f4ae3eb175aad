import { describe, expect, it } from "vitest";
import { dumpFileName, dumpFormatOf, safeName } from "../../src/sources/postgres/dump-layout.js";
import { PostgresUri } from "../../src/sources/postgres/postgres-uri.js";

describe("PostgresUri", () => {
  it("recognizes both schemes", () => {
    expect(PostgresUri.isPostgresUri("postgres://h/db")).toBe(true);
    expect(PostgresUri.isPostgresUri("postgresql://h/db")).toBe(true);
    expect(PostgresUri.isPostgresUri("/var/lib/postgres")).toBe(false);
  });

  it("reads the database from the path, or from a dbname parameter as libpq does", () => {
    expect(PostgresUri.parse("postgres://u@h:5433/shop").database).toBe("shop");
    expect(PostgresUri.parse("postgres://u@h/my%20db?sslmode=require").database).toBe("my db");
    expect(PostgresUri.parse("postgres://u@h/shop?dbname=other").database).toBe("other");
    expect(PostgresUri.parse("postgres://u@h:5432/").database).toBeUndefined();
    expect(PostgresUri.parse("postgres://u@h").database).toBeUndefined();
  });

  it("names the server by host, with the port unless it is 5432; sockets are localhost", () => {
    expect(PostgresUri.parse("postgres://u@db.example.com/x").serverName({})).toBe("db.example.com");
    expect(PostgresUri.parse("postgres://u@db.example.com:5432/x").serverName({})).toBe("db.example.com");
    expect(PostgresUri.parse("postgres://u@10.0.0.5:6543/x").serverName({})).toBe("10.0.0.5-6543");
    expect(PostgresUri.parse("postgres://[::1]:5433/x").serverName({})).toBe("::1-5433");
    expect(PostgresUri.parse("postgres://a:5433,b:5434/x").serverName({})).toBe("a-5433");
    expect(PostgresUri.parse("postgres://%2Fvar%2Frun%2Fpostgresql/x").serverName({})).toBe("localhost");
    expect(PostgresUri.parse("postgres:///x?host=/tmp&port=5499").serverName({})).toBe("localhost-5499");
    expect(PostgresUri.parse("postgres:///x").serverName({ PGHOST: "pg.internal", PGPORT: "5440" })).toBe("pg.internal-5440");
    expect(PostgresUri.parse("postgres:///x").serverName({})).toBe("localhost");
  });

  it("points the same connection at another database, keeping user, password and parameters", () => {
    const uri = PostgresUri.parse("postgresql://u:p%40ss@h:5433/shop?sslmode=require&dbname=shop");
    expect(uri.withDatabase("postgres")).toBe("postgresql://u:p%40ss@h:5433/postgres?sslmode=require");
    expect(uri.withDatabase("a/b c")).toBe("postgresql://u:p%40ss@h:5433/a%2Fb%20c?sslmode=require");
  });

  it("never shows a password", () => {
    expect(PostgresUri.parse("postgres://u:secret@h/db?password=other&sslmode=verify-full").redacted()).toBe("postgres://u@h/db?sslmode=verify-full");
    expect(PostgresUri.parse("postgres://h/db").redacted()).toBe("postgres://h/db");
    // Nor the passphrase of the client's SSL key.
    expect(PostgresUri.parse("postgres://u@h/db?sslpassword=KEYPASS&sslmode=require").redacted()).toBe("postgres://u@h/db?sslmode=require");
  });

  it("rejects what is not a URI", () => {
    expect(() => PostgresUri.parse("host=h dbname=x")).toThrow(/not a PostgreSQL URI/);
    expect(() => PostgresUri.parse("postgres://h/db?sslmode")).toThrow(/key=value/);
    expect(() => PostgresUri.parse("postgres://h/%zz")).toThrow(/percent-encoding/);
  });
});

describe("dump layout", () => {
  it("names dump files by database and format, safely", () => {
    expect(dumpFileName("shop", "plain")).toBe("shop.sql");
    expect(dumpFileName("shop", "custom")).toBe("shop.dump");
    // A database named globals, kept apart from the globals file.
    expect(dumpFileName("globals", "plain")).toBe("%67lobals.sql");
    expect(dumpFileName("globals", "custom")).toBe("globals.dump");
    expect(dumpFileName("%67lobals", "plain")).toBe("%2567lobals.sql");
    expect(safeName("a/b%c")).toBe("a%2Fb%25c");
    expect(safeName("..")).toBe("%2E%2E");
    expect(dumpFormatOf("x.sql")).toBe("plain");
    expect(dumpFormatOf("x.dump")).toBe("custom");
    expect(dumpFormatOf("x.txt")).toBeUndefined();
  });
});

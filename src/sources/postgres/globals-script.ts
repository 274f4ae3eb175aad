import { isKeyword, nameValue, statements, tokenize, type Token } from "./sql-tokens.js";

/** Roles and tablespaces the target server has, by name (UTF-8 bytes, one char each). */
export interface ExistingGlobals {
  roles: ReadonlySet<string>;
  tablespaces: ReadonlySet<string>;
}

export interface GlobalsScript {
  script: Buffer;
  /** The CREATE statements left out, as `role "NAME"` or `tablespace "NAME"`. */
  leftOut: string[];
  /** Whether the password of the role the restore connects as was left as it is. */
  keptPassword: boolean;
}

/**
 * pg_dumpall --globals-only creates each role with a statement of its own (`CREATE ROLE name;`,
 * then `ALTER ROLE name WITH …` for its attributes and password), and each tablespace with
 * `CREATE TABLESPACE name …`. A server always has some of them (the superuser initdb made): psql
 * fed by hand reports those CREATEs and goes on, while cairn stops at the first error. So the
 * CREATEs of what exists are left out; the ALTER ROLE after each still sets the attributes, and
 * memberships and settings follow as written.
 */
export function withoutExistingGlobals(script: Buffer, existing: ExistingGlobals, connectedAs?: string): GlobalsScript {
  const text = script.toString("latin1");
  const leftOut: string[] = [];
  const pieces: string[] = [];
  let keptPassword = false;
  let at = 0;
  for (const statement of statements(tokenize(text))) {
    const password = connectedAs === undefined ? undefined : passwordOf(statement, connectedAs);
    if (password) {
      // The old server's password for the role this restore connects as would lock the rest of it out.
      pieces.push(text.slice(at, password.start));
      at = password.end;
      keptPassword = true;
      continue;
    }
    const created = createdGlobal(statement);
    if (!created || !(created.kind === "role" ? existing.roles : existing.tablespaces).has(created.name)) continue;
    const last = statement.at(-1)!;
    const end = text[last.end] === "\n" ? last.end + 1 : last.end;
    pieces.push(text.slice(at, statement[0]!.start));
    at = end;
    leftOut.push(`${created.kind} ${JSON.stringify(Buffer.from(created.name, "latin1").toString("utf8"))}`);
  }
  pieces.push(text.slice(at));
  return { script: Buffer.from(pieces.join(""), "latin1"), leftOut, keptPassword };
}

/** In `ALTER ROLE role WITH … PASSWORD '…' …;` of that role: where ` PASSWORD '…'` is. */
function passwordOf(statement: readonly Token[], role: string): { start: number; end: number } | undefined {
  const [alter, what, name] = statement;
  if (!isKeyword(alter, "ALTER") || !isKeyword(what, "ROLE") || name?.kind !== "name" || nameValue(name.text) !== role) return undefined;
  const at = statement.findIndex((token, i) => i > 2 && isKeyword(token, "PASSWORD"));
  const value = statement[at + 1];
  if (at < 0 || !value || (value.kind !== "string" && !isKeyword(value, "NULL"))) return undefined;
  return { start: statement[at - 1]!.end, end: value.end };
}

/** `CREATE ROLE name;` exactly, or any `CREATE TABLESPACE name …;`. */
function createdGlobal(statement: readonly Token[]): { kind: "role" | "tablespace"; name: string } | undefined {
  const [create, what, name, end] = statement;
  if (!isKeyword(create, "CREATE") || name?.kind !== "name" || statement.at(-1)?.text !== ";") return undefined;
  if (isKeyword(what, "ROLE") && statement.length === 4 && end?.text === ";") return { kind: "role", name: nameValue(name.text) };
  if (isKeyword(what, "TABLESPACE")) return { kind: "tablespace", name: nameValue(name.text) };
  return undefined;
}

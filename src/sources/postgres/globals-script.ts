import { isKeyword, nameValue, statements, tokenize, type Token } from "./sql-tokens.js";

/** Roles and tablespaces the target server has, by name (UTF-8 bytes, one char each). */
export interface ExistingGlobals {
  roles: ReadonlySet<string>;
  tablespaces: ReadonlySet<string>;
}

export interface GlobalsScript {
  script: Buffer;
  /** The CREATE statements left out, as "role NAME" or "tablespace NAME". */
  leftOut: string[];
}

/**
 * pg_dumpall --globals-only creates each role with a statement of its own (`CREATE ROLE name;`,
 * then `ALTER ROLE name WITH …` for its attributes and password), and each tablespace with
 * `CREATE TABLESPACE name …`. A server always has some of them (the superuser initdb made): psql
 * fed by hand reports those CREATEs and goes on, while cairn stops at the first error. So the
 * CREATEs of what exists are left out; the ALTER ROLE after each still sets the attributes, and
 * memberships and settings follow as written.
 */
export function withoutExistingGlobals(script: Buffer, existing: ExistingGlobals): GlobalsScript {
  const text = script.toString("latin1");
  const leftOut: string[] = [];
  const pieces: string[] = [];
  let at = 0;
  for (const statement of statements(tokenize(text))) {
    const created = createdGlobal(statement);
    if (!created || !(created.kind === "role" ? existing.roles : existing.tablespaces).has(created.name)) continue;
    const last = statement.at(-1)!;
    const end = text[last.end] === "\n" ? last.end + 1 : last.end;
    pieces.push(text.slice(at, statement[0]!.start));
    at = end;
    leftOut.push(`${created.kind} ${Buffer.from(created.name, "latin1").toString("utf8")}`);
  }
  pieces.push(text.slice(at));
  return { script: Buffer.from(pieces.join(""), "latin1"), leftOut };
}

/** `CREATE ROLE name;` exactly, or any `CREATE TABLESPACE name …;`. */
function createdGlobal(statement: readonly Token[]): { kind: "role" | "tablespace"; name: string } | undefined {
  const [create, what, name, end] = statement;
  if (!isKeyword(create, "CREATE") || name?.kind !== "name" || statement.at(-1)?.text !== ";") return undefined;
  if (isKeyword(what, "ROLE") && statement.length === 4 && end?.text === ";") return { kind: "role", name: nameValue(name.text) };
  if (isKeyword(what, "TABLESPACE")) return { kind: "tablespace", name: nameValue(name.text) };
  return undefined;
}

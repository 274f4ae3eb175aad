import { CairnError } from "../../errors.js";
import { isKeyword, nameValue, quoteIdentifier, statements, tokenize, type Token } from "./sql-tokens.js";

/**
 * A database's own definition, as `pg_restore --create` prints it for the database's entries of
 * a pg_dump archive: `CREATE DATABASE` with its encoding, locale and template, the owner, then
 * (after `\connect` to the new database) its comment, settings, connection limit, per-role
 * settings and grants. Restoring it splits it in two: `create` runs on the server's maintenance
 * database before the contents are restored, `properties` in the new database after them, so
 * that a connection limit, a revoked CONNECT or a read-only default cannot get in the restore's
 * way. Both are renamed to the database restored into.
 */
export interface CreateDatabaseScript {
  /** The name the database had, as written after `CREATE DATABASE` (its bytes, one char each). */
  original: string;
  create: Buffer;
  properties: Buffer;
}

/** Encodings in which a name's UTF-8 bytes mean what they say: the target name is written in UTF-8. */
const NAME_SAFE_ENCODINGS = new Set(["UTF8", "SQL_ASCII"]);

/**
 * The script is handled as bytes (latin1: one char per byte), so text in any encoding passes
 * through untouched. pg_dump writes it in the database's own encoding, as pg_dumpall does (a
 * comment stored in another encoding cannot always be converted); the new name, which is
 * UTF-8, can then only be written into a UTF-8 or SQL_ASCII script, or be plain ASCII.
 */
export function planCreateDatabase(script: Buffer, target: string): CreateDatabaseScript {
  const text = script.toString("latin1");
  const tokens = tokenize(text);
  const original = createdDatabase(tokens);
  if (original === undefined) throw new CairnError("the stored definition of the database holds no CREATE DATABASE statement");
  const encoding = clientEncoding(tokens);
  if (!/^[\x00-\x7f]*$/.test(target) && !NAME_SAFE_ENCODINGS.has(encoding ?? "")) {
    throw new CairnError(`its definition is in the ${encoding ?? "unknown"} encoding, in which the name ${JSON.stringify(target)} cannot be written: create the database by hand and restore without --create`);
  }
  const renamed = quoteIdentifier(Buffer.from(target, "utf8").toString("latin1"));
  // Pieces of the script in order; `split` is where the first \connect was.
  const pieces: string[] = [];
  let split: number | undefined;
  let at = 0;
  tokens.forEach((token, i) => {
    if (token.kind === "meta" && /^\\connect\b/.test(token.text)) {
      pieces.push(text.slice(at, token.start));
      split ??= pieces.length;
      at = token.end;
    } else if (token.kind === "name" && namesDatabase(tokens, i) && nameValue(token.text) === original) {
      pieces.push(text.slice(at, token.start), renamed);
      at = token.end;
    }
  });
  pieces.push(text.slice(at));
  const create = pieces.slice(0, split ?? pieces.length).join("");
  const properties = split === undefined ? "" : pieces.slice(split).join("");
  return { original, create: Buffer.from(create, "latin1"), properties: Buffer.from(properties, "latin1") };
}

/**
 * Whether tokens[i] is the name in `CREATE DATABASE x`, `ALTER DATABASE x`, `ON DATABASE x`
 * (COMMENT, SECURITY LABEL, GRANT, REVOKE) or `IN DATABASE x` (ALTER ROLE): not a role that
 * happens to be called "database".
 */
function namesDatabase(tokens: readonly Token[], i: number): boolean {
  return isKeyword(tokens[i - 1], "DATABASE") && ["CREATE", "ALTER", "ON", "IN"].some((word) => isKeyword(tokens[i - 2], word));
}

/** The encoding named by the script's first `SET client_encoding = '…';`. */
function clientEncoding(tokens: readonly Token[]): string | undefined {
  for (const statement of statements(tokens)) {
    const [set, name] = statement;
    if (isKeyword(set, "SET") && isKeyword(name, "CLIENT_ENCODING")) return statement.find((t) => t.kind === "string")?.text.slice(1, -1).toUpperCase();
  }
  return undefined;
}

/**
 * Whether two definitions say the same, apart from the random key pg_restore (15.14, 16.10,
 * 17.6 and later) writes on its `\restrict` and `\unrestrict` lines (not a comment's lines that
 * read like them): an unchanged database keeps yesterday's file.
 */
export function sameDefinition(a: Buffer, b: Buffer): boolean {
  const plain = (script: Buffer) => {
    const text = script.toString("latin1");
    let out = "";
    let at = 0;
    for (const token of tokenize(text)) {
      const key = token.kind === "meta" ? /^\\(?:un)?restrict /.exec(token.text) : null;
      if (!key) continue;
      out += text.slice(at, token.start) + key[0];
      at = token.end;
    }
    return out + text.slice(at);
  };
  return plain(a) === plain(b);
}

/** The name after the first `CREATE DATABASE`. */
function createdDatabase(tokens: readonly Token[]): string | undefined {
  for (let i = 0; i + 2 < tokens.length; i++) {
    if (isKeyword(tokens[i], "CREATE") && isKeyword(tokens[i + 1], "DATABASE") && tokens[i + 2]!.kind === "name") return nameValue(tokens[i + 2]!.text);
  }
  return undefined;
}

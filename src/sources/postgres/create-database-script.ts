import { CairnError } from "../../errors.js";

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

/**
 * The script is handled as bytes (latin1: one char per byte), so text in any encoding passes
 * through untouched; cairn has pg_dump write it in UTF-8, the encoding the new name is written in.
 */
export function planCreateDatabase(script: Buffer, target: string): CreateDatabaseScript {
  const text = script.toString("latin1");
  const tokens = tokenize(text);
  const original = createdDatabase(tokens);
  if (original === undefined) throw new CairnError("the stored definition of the database holds no CREATE DATABASE statement");
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
    } else if (token.kind === "name" && isKeyword(tokens[i - 1], "DATABASE") && nameValue(token.text) === original) {
      pieces.push(text.slice(at, token.start), renamed);
      at = token.end;
    }
  });
  pieces.push(text.slice(at));
  const create = pieces.slice(0, split ?? pieces.length).join("");
  const properties = split === undefined ? "" : pieces.slice(split).join("");
  return { original, create: Buffer.from(create, "latin1"), properties: Buffer.from(properties, "latin1") };
}

const RESTRICT_KEY = /^(\\(?:un)?restrict) \S+$/gm;

/**
 * Whether two definitions say the same, apart from the random key pg_restore (15.14, 16.10,
 * 17.6 and later) writes on its `\restrict` lines: an unchanged database keeps yesterday's file.
 */
export function sameDefinition(a: Buffer, b: Buffer): boolean {
  const plain = (script: Buffer) => script.toString("latin1").replace(RESTRICT_KEY, "$1");
  return plain(a) === plain(b);
}

interface Token {
  /** A bare word or a "quoted" name; a psql backslash line; any other character of code. */
  kind: "name" | "meta" | "other";
  start: number;
  end: number;
  text: string;
}

const WORD_START = /[A-Za-z_\x80-\xff]/;
const WORD_PART = /[A-Za-z0-9_$\x80-\xff]/;

/** The script's tokens; strings and comments are skipped, as they can hold anything. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let lineStart = true;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    const start = i;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      lineStart ||= c === "\n";
      i++;
      continue;
    }
    const atLineStart = lineStart;
    lineStart = false;
    if (c === "\\" && atLineStart) {
      i = lineEnd(text, i);
      tokens.push({ kind: "meta", start, end: i, text: text.slice(start, i) });
    } else if (c === "-" && text[i + 1] === "-") {
      i = lineEnd(text, i);
    } else if (c === "/" && text[i + 1] === "*") {
      i = blockCommentEnd(text, i);
    } else if (c === "'") {
      i = quotedEnd(text, i, "'", isEscapeString(text, i));
    } else if (c === '"') {
      i = quotedEnd(text, i, '"', false);
      tokens.push({ kind: "name", start, end: i, text: text.slice(start, i) });
    } else if (WORD_START.test(c)) {
      while (i < text.length && WORD_PART.test(text[i]!)) i++;
      tokens.push({ kind: "name", start, end: i, text: text.slice(start, i) });
    } else {
      i++;
      tokens.push({ kind: "other", start, end: i, text: c });
    }
  }
  return tokens;
}

function lineEnd(text: string, i: number): number {
  const nl = text.indexOf("\n", i);
  return nl < 0 ? text.length : nl;
}

function blockCommentEnd(text: string, i: number): number {
  let depth = 0;
  while (i < text.length) {
    if (text.startsWith("/*", i)) {
      depth++;
      i += 2;
    } else if (text.startsWith("*/", i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return i;
}

function isEscapeString(text: string, quote: number): boolean {
  const before = text[quote - 1];
  return (before === "E" || before === "e") && !WORD_PART.test(text[quote - 2] ?? " ");
}

/** Just past the closing quote; a doubled quote is part of the text, as is a backslash's next char in E''. */
function quotedEnd(text: string, i: number, quote: string, backslashEscapes: boolean): number {
  for (i++; i < text.length; i++) {
    const c = text[i]!;
    if (backslashEscapes && c === "\\") i++;
    else if (c === quote) {
      if (text[i + 1] === quote) i++;
      else return i + 1;
    }
  }
  return i;
}

function isKeyword(token: Token | undefined, word: string): boolean {
  return token?.kind === "name" && token.text.toUpperCase() === word;
}

/** The name a token stands for: a quoted name as written inside, a bare one with ASCII folded to lower case. */
function nameValue(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The name after the first `CREATE DATABASE`. */
function createdDatabase(tokens: readonly Token[]): string | undefined {
  for (let i = 0; i + 2 < tokens.length; i++) {
    if (isKeyword(tokens[i], "CREATE") && isKeyword(tokens[i + 1], "DATABASE") && tokens[i + 2]!.kind === "name") return nameValue(tokens[i + 2]!.text);
  }
  return undefined;
}

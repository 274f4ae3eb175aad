/**
 * Just enough of SQL's lexical rules to find names and statements in what pg_dump, pg_dumpall
 * and pg_restore print: bare and "quoted" names, psql's backslash lines at the start of a line,
 * strings ('…', E'…'), and everything else a character at a time; comments (`--` and nested block
 * comments) are skipped. A string or name is one token, whatever it holds. Text is handled as
 * latin1 (one char per byte), so bytes of any encoding pass through untouched. Dollar quotes are not handled: those programs
 * write none in the statements read with this.
 */
export interface Token {
  /** A bare word or a "quoted" name; a '…' string; a psql backslash line; any other character of code. */
  kind: "name" | "string" | "meta" | "other";
  start: number;
  end: number;
  text: string;
}

const WORD_START = /[A-Za-z_\x80-\xff]/;
const WORD_PART = /[A-Za-z0-9_$\x80-\xff]/;

/** The script's tokens, in order. */
export function tokenize(text: string): Token[] {
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
      tokens.push({ kind: "string", start, end: i, text: text.slice(start, i) });
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

export function isKeyword(token: Token | undefined, word: string): boolean {
  return token?.kind === "name" && token.text.toUpperCase() === word;
}

/** The name a token stands for: a quoted name as written inside, a bare one with ASCII folded to lower case. */
export function nameValue(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The statements of a script: runs of tokens ended by a `;` (included) or a backslash line (on its own). */
export function statements(tokens: readonly Token[]): Token[][] {
  const all: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    if (token.kind === "meta") {
      if (current.length > 0) all.push(current);
      all.push([token]);
      current = [];
      continue;
    }
    current.push(token);
    if (token.kind === "other" && token.text === ";") {
      all.push(current);
      current = [];
    }
  }
  if (current.length > 0) all.push(current);
  return all;
}

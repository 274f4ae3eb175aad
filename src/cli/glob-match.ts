import { UsageError } from "../errors.js";

/**
 * Whether `name` matches `pattern` under the rules of Go's filepath.Match, which restic's
 * --files-from uses: `*` any run of characters but `/`, `?` one character but `/`, `[…]` a
 * class (`[^…]` negated, ranges `a-z`, `\` escapes), `\x` the character x. Nothing else is
 * special: no braces, no `**`, no `!` negation, no parentheses. A malformed pattern (an
 * unclosed class, a trailing `\`) is a UsageError whatever the name, as in Go.
 */
export function globMatch(pattern: string, name: string): boolean {
  const p = [...pattern];
  let s = [...name];
  let rest = p;
  for (;;) {
    if (rest.length === 0) return s.length === 0;
    const { star, chunk, after } = scanChunk(rest);
    rest = after;
    if (star && chunk.length === 0) return !s.includes("/");
    const here = matchChunk(chunk, s, pattern);
    if (here !== undefined && (here.length === 0 || rest.length > 0)) {
      s = here;
      continue;
    }
    let skipped: string[] | undefined;
    if (star) {
      for (let i = 0; i < s.length && s[i] !== "/"; i++) {
        const t = matchChunk(chunk, s.slice(i + 1), pattern);
        if (t !== undefined && !(rest.length === 0 && t.length > 0)) {
          skipped = t;
          break;
        }
      }
    }
    if (skipped !== undefined) {
      s = skipped;
      continue;
    }
    // No match: the rest of the pattern must still be well formed.
    while (rest.length > 0) {
      const next = scanChunk(rest);
      matchChunk(next.chunk, [], pattern);
      rest = next.after;
    }
    return false;
  }
}

/** Checks `pattern` is well formed (Go's Glob does this first); throws a UsageError if not. */
export function checkGlobPattern(pattern: string): void {
  globMatch(pattern, "");
}

/** Leading stars, then the characters up to the next star outside a class. */
function scanChunk(pattern: string[]): { star: boolean; chunk: string[]; after: string[] } {
  let start = 0;
  while (start < pattern.length && pattern[start] === "*") start++;
  let inClass = false;
  let i = start;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      if (i + 1 < pattern.length) i++;
    } else if (c === "[") {
      inClass = true;
    } else if (c === "]") {
      inClass = false;
    } else if (c === "*" && !inClass) {
      break;
    }
  }
  return { star: start > 0, chunk: pattern.slice(start, i), after: pattern.slice(i) };
}

/**
 * Matches `chunk` (no stars outside classes) at the start of `s`: what is left of `s`, or
 * undefined. The whole chunk is read even after a mismatch, so a malformed one always throws.
 */
function matchChunk(chunk: string[], s: string[], pattern: string): string[] | undefined {
  let failed = false;
  let at = 0;
  let i = 0;
  const bad = () => new UsageError(`--files-from: ${JSON.stringify(pattern)} is not a well-formed pattern`);
  while (i < chunk.length) {
    if (!failed && at >= s.length) failed = true;
    const c = chunk[i]!;
    if (c === "[") {
      const r = failed ? undefined : s[at++];
      i++;
      let negated = false;
      if (chunk[i] === "^") {
        negated = true;
        i++;
      }
      let matched = false;
      let ranges = 0;
      for (;;) {
        if (chunk[i] === "]" && ranges > 0) {
          i++;
          break;
        }
        const lo = escaped(chunk, i, bad);
        i = lo.next;
        let hi = lo;
        if (chunk[i] === "-") {
          hi = escaped(chunk, i + 1, bad);
          i = hi.next;
        }
        const code = r?.codePointAt(0);
        if (code !== undefined && lo.code <= code && code <= hi.code) matched = true;
        ranges++;
      }
      if (matched === negated) failed = true;
    } else if (c === "?") {
      if (!failed) {
        if (s[at] === "/") failed = true;
        at++;
      }
      i++;
    } else {
      let literal = c;
      if (c === "\\") {
        i++;
        if (i >= chunk.length) throw bad();
        literal = chunk[i]!;
      }
      if (!failed) {
        if (s[at] !== literal) failed = true;
        at++;
      }
      i++;
    }
  }
  return failed ? undefined : s.slice(at);
}

/** One character of a class (`\` escapes it), which must be followed by more of the class. */
function escaped(chunk: string[], i: number, bad: () => Error): { code: number; next: number } {
  if (i >= chunk.length || chunk[i] === "-" || chunk[i] === "]") throw bad();
  if (chunk[i] === "\\") {
    i++;
    if (i >= chunk.length) throw bad();
  }
  const code = chunk[i]!.codePointAt(0)!;
  if (i + 1 >= chunk.length) throw bad();
  return { code, next: i + 1 };
}

import { UsageError } from "../errors.js";

const SLASH = 0x2f;
const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;
const RUNE_ERROR = 0xfffd;
const NOTHING = Buffer.alloc(0);

/**
 * Go's utf8.DecodeRune on `bytes[at..end)`: the code point there and its width in bytes;
 * anything that is not well-formed UTF-8 (a stray byte, an overlong form, a surrogate, a
 * truncated sequence) is U+FFFD of width 1.
 */
export function decodeRune(bytes: Uint8Array, at: number, end = bytes.length): [number, number] {
  const b0 = bytes[at]!;
  if (b0 < 0x80) return [b0, 1];
  const cont = (i: number, lo = 0x80, hi = 0xbf) => at + i < end && bytes[at + i]! >= lo && bytes[at + i]! <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? [((b0 & 0x1f) << 6) | (bytes[at + 1]! & 0x3f), 2] : [RUNE_ERROR, 1];
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const second = b0 === 0xe0 ? cont(1, 0xa0) : b0 === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    if (!second || !cont(2)) return [RUNE_ERROR, 1];
    return [((b0 & 0x0f) << 12) | ((bytes[at + 1]! & 0x3f) << 6) | (bytes[at + 2]! & 0x3f), 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const second = b0 === 0xf0 ? cont(1, 0x90) : b0 === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    if (!second || !cont(2) || !cont(3)) return [RUNE_ERROR, 1];
    return [((b0 & 0x07) << 18) | ((bytes[at + 1]! & 0x3f) << 12) | ((bytes[at + 2]! & 0x3f) << 6) | (bytes[at + 3]! & 0x3f), 4];
  }
  return [RUNE_ERROR, 1];
}

/**
 * Whether `name` matches `pattern` under Go's filepath.Match, which restic's --files-from uses,
 * byte for byte as Go does it: `*` any run of bytes but `/`, `?` one character but `/`, `[…]` a
 * class of characters (`[^…]` negated, ranges `a-z`, `\` escapes), `\x` the character x.
 * Nothing else is special: no braces, no `**`, no `!` negation, no parentheses. A malformed
 * pattern (an unclosed class, a trailing `\`, a stray byte in a class) is a UsageError
 * whatever the name, as in Go.
 */
export function globMatch(pattern: Buffer, name: Buffer): boolean {
  let p = 0;
  let s = 0;
  while (p < pattern.length) {
    const { star, start, end } = scanChunk(pattern, p);
    p = end;
    const last = p >= pattern.length;
    if (star && start === end) return name.indexOf(SLASH, s) < 0;
    const here = matchChunk(pattern, start, end, name, s);
    if (here >= 0 && (here === name.length || !last)) {
      s = here;
      continue;
    }
    let skipped = -1;
    if (star) {
      for (let i = s; i < name.length && name[i] !== SLASH; i++) {
        const t = matchChunk(pattern, start, end, name, i + 1);
        if (t >= 0 && !(last && t < name.length)) {
          skipped = t;
          break;
        }
      }
    }
    if (skipped >= 0) {
      s = skipped;
      continue;
    }
    // No match: the rest of the pattern must still be well formed.
    while (p < pattern.length) {
      const next = scanChunk(pattern, p);
      matchChunk(pattern, next.start, next.end, NOTHING, 0);
      p = next.end;
    }
    return false;
  }
  return s === name.length;
}

/**
 * Checks `pattern` is well formed (Go's Glob does this first, for the whole pattern and each
 * directory level of it); throws a UsageError naming `line`, the whole pattern, if not.
 */
export function checkGlobPattern(pattern: Buffer, line: Buffer = pattern): void {
  try {
    globMatch(pattern, NOTHING);
  } catch (err) {
    throw err instanceof UsageError ? badPattern(line) : err;
  }
}

/** Leading stars from `p`, then the chunk up to the next star outside a class. */
function scanChunk(pattern: Buffer, p: number): { star: boolean; start: number; end: number } {
  let start = p;
  while (start < pattern.length && pattern[start] === STAR) start++;
  let inClass = false;
  let i = start;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === BACKSLASH) {
      if (i + 1 < pattern.length) i++;
    } else if (c === OPEN) {
      inClass = true;
    } else if (c === CLOSE) {
      inClass = false;
    } else if (c === STAR && !inClass) {
      break;
    }
  }
  return { star: start > p, start, end: i };
}

function badPattern(pattern: Buffer): UsageError {
  return new UsageError(`--files-from: ${JSON.stringify(pattern.toString("utf8"))} is not a well-formed pattern`);
}

/**
 * Matches the chunk `pattern[start..end)` (no stars outside classes) at `name[s..]`: the
 * position after it, or -1. The whole chunk is read even after a mismatch, so a malformed one
 * always throws.
 */
function matchChunk(pattern: Buffer, start: number, end: number, name: Buffer, s: number): number {
  let failed = false;
  let i = start;
  while (i < end) {
    if (!failed && s >= name.length) failed = true;
    const c = pattern[i]!;
    if (c === OPEN) {
      let r = 0;
      if (!failed) {
        const [rune, width] = decodeRune(name, s);
        r = rune;
        s += width;
      }
      i++;
      let negated = false;
      if (i < end && pattern[i] === CARET) {
        negated = true;
        i++;
      }
      let matched = false;
      for (let ranges = 0; ; ranges++) {
        if (i < end && pattern[i] === CLOSE && ranges > 0) {
          i++;
          break;
        }
        const lo = classChar(pattern, i, end);
        let hi = lo;
        if (pattern[lo.next] === DASH) hi = classChar(pattern, lo.next + 1, end);
        i = hi.next;
        if (lo.rune <= r && r <= hi.rune) matched = true;
      }
      if (matched === negated) failed = true;
    } else if (c === QUESTION) {
      if (!failed) {
        if (name[s] === SLASH) failed = true;
        s += decodeRune(name, s)[1];
      }
      i++;
    } else {
      let literal = c;
      if (c === BACKSLASH) {
        i++;
        if (i >= end) throw badPattern(pattern);
        literal = pattern[i]!;
      }
      if (!failed) {
        if (name[s] !== literal) failed = true;
        s++;
      }
      i++;
    }
  }
  return failed ? -1 : s;
}

/** Go's getEsc: one character of a class (`\` escapes it), which more of the class must follow. */
function classChar(pattern: Buffer, i: number, end: number): { rune: number; next: number } {
  if (i >= end || pattern[i] === DASH || pattern[i] === CLOSE) throw badPattern(pattern);
  if (pattern[i] === BACKSLASH) {
    i++;
    if (i >= end) throw badPattern(pattern);
  }
  const [rune, width] = decodeRune(pattern, i, end);
  if (rune === RUNE_ERROR && width === 1) throw badPattern(pattern);
  if (i + width >= end) throw badPattern(pattern);
  return { rune, next: i + width };
}

/**
 * pg_dump's plain format wraps each large-object section in its own `BEGIN;` … `COMMIT;`. Fed
 * to psql inside cairn's one transaction, that COMMIT commits everything before it, and what
 * follows (indexes, constraints, grants) runs on its own: a failure there left a partial
 * database. This filter drops exactly those two statements: a top-level `BEGIN;` whose next
 * statement opens a large object (`SELECT pg_catalog.lo_open(`), and the top-level `COMMIT;`
 * that closes the section. It reads the dump as psql does, statement by statement: strings,
 * quoted names, dollar-quoted bodies, comments, psql's backslash commands and COPY data are
 * passed through untouched whatever they hold, so a function whose body has such lines, or a
 * table name with a newline in it, comes back as it was.
 */
export async function* withoutLargeObjectTransactions(dump: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const scanner = new PlainDumpScanner();
  for await (const chunk of dump) {
    const out = scanner.push(chunk);
    if (out.length > 0) yield out;
  }
  const out = scanner.end();
  if (out.length > 0) yield out;
}

const LO_OPEN = "SELECT pg_catalog.lo_open(";
const [NL, QUOTE, DQUOTE, DOLLAR, DASH, SLASH, STAR, BACKSLASH, SEMICOLON, DOT] = [0x0a, 0x27, 0x22, 0x24, 0x2d, 0x2f, 0x2a, 0x5c, 0x3b, 0x2e];

type Mode = "code" | "quote" | "escape-quote" | "ident" | "dollar-tag" | "dollar" | "line-comment" | "block-comment" | "meta" | "copy-header" | "copy-data";

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === NL || b === 0x0d || b === 0x0c;
}

function isWordByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b >= 0x80;
}

class PlainDumpScanner {
  private mode: Mode = "code";
  private out: Buffer[] = [];
  /** Whether no code of the next statement has been seen since the last top-level `;`. */
  private atStart = true;
  /** The current statement's first code characters (whitespace as one space, a quoted part as its quote). */
  private head = "";
  /** A COPY statement's last code characters, upper-cased, to see `FROM STDIN` go by. */
  private tail = "";
  private fromStdin = false;
  /** Whether the statement starts with COPY (known once its head holds five characters). */
  private copy = false;
  /** The code bytes before the current one (for E'' and `$`). */
  private prev = -1;
  private prevPrev = -1;
  /** A `-` or `/` seen in code, not yet known to open a comment. */
  private pending = -1;
  private quoteMayEnd = false;
  private escapeNext = false;
  private dollarTag: number[] = [];
  private dollarMatched = 0;
  private commentDepth = 0;
  private commentPrev = -1;
  /** COPY data: how much of the current line matches `\.` so far (-1: not that line). */
  private copyLine = 0;
  /** The bytes of a statement that may be one to drop, from its first code byte. */
  private held: number[] | undefined;
  /** A complete `BEGIN;` and what follows it, until the next statement shows whether it opens a large object. */
  private heldBegin: { statement: number[]; gap: number[] } | undefined;
  private inLargeObjects = false;
  /** The newline after a dropped COMMIT; goes with it. */
  private dropNewline = false;

  push(chunk: Buffer): Buffer {
    let emitFrom = 0;
    for (let i = 0; i < chunk.length; ) {
      if (!this.holding()) {
        // Runs that cannot change anything are passed over with indexOf.
        const skip = this.skipRun(chunk, i);
        if (skip > i) {
          i = skip;
          continue;
        }
      }
      const b = chunk[i]!;
      if (this.dropNewline) {
        this.dropNewline = false;
        if (b === NL) {
          if (i > emitFrom) this.out.push(chunk.subarray(emitFrom, i));
          emitFrom = ++i;
          continue;
        }
      }
      const startsStatement = this.feed(b);
      if (startsStatement && this.held === undefined && this.mayBeDropped()) this.held = [];
      if (this.holding()) {
        if (i > emitFrom) this.out.push(chunk.subarray(emitFrom, i));
        emitFrom = i + 1;
        if (this.held !== undefined) this.held.push(b);
        else this.heldBegin!.gap.push(b);
        this.decide();
      }
      i++;
    }
    if (chunk.length > emitFrom) this.out.push(chunk.subarray(emitFrom));
    return this.take();
  }

  end(): Buffer {
    this.release();
    return this.take();
  }

  private holding(): boolean {
    return this.held !== undefined || this.heldBegin !== undefined;
  }

  private take(): Buffer {
    const out = Buffer.concat(this.out);
    this.out = [];
    return out;
  }

  /** Where the run of bytes from `i` that this mode passes over without a decision ends. */
  private skipRun(chunk: Buffer, i: number): number {
    const until = (byte: number) => {
      const at = chunk.indexOf(byte, i);
      return at === -1 ? chunk.length : at;
    };
    switch (this.mode) {
      case "quote":
      case "ident":
        return this.quoteMayEnd ? i : until(this.mode === "quote" ? QUOTE : DQUOTE);
      case "dollar":
        return this.dollarMatched > 0 ? i : until(DOLLAR);
      case "line-comment":
      case "meta":
      case "copy-header":
        return until(NL);
      case "copy-data":
        return this.copyLine === -1 ? until(NL) : i;
      default:
        return i;
    }
  }

  /** Emits what is held, as it was. */
  private release(): void {
    if (this.heldBegin) this.out.push(Buffer.from(this.heldBegin.statement), Buffer.from(this.heldBegin.gap));
    if (this.held) this.out.push(Buffer.from(this.held));
    this.heldBegin = undefined;
    this.held = undefined;
  }

  private mayBeDropped(): boolean {
    const head = this.head.trimEnd();
    if (this.heldBegin && (LO_OPEN.startsWith(head) || "BEGIN".startsWith(head))) return true;
    return "BEGIN".startsWith(head) || (this.inLargeObjects && "COMMIT".startsWith(head));
  }

  /** After a held byte: drops, releases or keeps holding. */
  private decide(): void {
    const head = this.head.trimEnd();
    if (this.held !== undefined && this.atStart) {
      // The statement just ended with its `;`.
      if (head === "BEGIN") {
        const earlier = this.heldBegin;
        if (earlier) this.out.push(Buffer.from(earlier.statement), Buffer.from(earlier.gap));
        this.heldBegin = { statement: this.held, gap: [] };
        this.held = undefined;
      } else if (head === "COMMIT" && this.inLargeObjects) {
        this.held = undefined;
        this.inLargeObjects = false;
        this.dropNewline = true;
      } else this.release();
      return;
    }
    if (this.held === undefined) {
      // A statement that cannot matter began after a held BEGIN;: that BEGIN; was not a large object's.
      if (this.heldBegin && !this.atStart) this.release();
      return;
    }
    if (this.heldBegin && head === LO_OPEN) {
      // A large-object section: its BEGIN; goes, with the newline that ended its line.
      const gap = this.heldBegin.gap[0] === NL ? this.heldBegin.gap.slice(1) : this.heldBegin.gap;
      this.out.push(Buffer.from(gap), Buffer.from(this.held));
      this.heldBegin = undefined;
      this.held = undefined;
      this.inLargeObjects = true;
      return;
    }
    if (!this.mayBeDropped()) this.release();
  }

  /** Advances the state by one byte; says whether it is the first byte of a statement. */
  private feed(b: number): boolean {
    switch (this.mode) {
      case "quote":
      case "escape-quote":
      case "ident": {
        const close = this.mode === "ident" ? DQUOTE : QUOTE;
        if (this.escapeNext) this.escapeNext = false;
        else if (this.quoteMayEnd) {
          this.quoteMayEnd = false;
          if (b !== close) {
            this.mode = "code";
            return this.code(b);
          }
        } else if (this.mode === "escape-quote" && b === BACKSLASH) this.escapeNext = true;
        else if (b === close) this.quoteMayEnd = true;
        return false;
      }
      case "dollar-tag":
        if (b === DOLLAR) {
          this.mode = "dollar";
          this.dollarMatched = 0;
        } else if (isWordByte(b) && !(this.dollarTag.length === 0 && b >= 0x30 && b <= 0x39)) this.dollarTag.push(b);
        else {
          // `$1` or the like: not a dollar quote.
          this.mode = "code";
          return this.code(b);
        }
        return false;
      case "dollar": {
        const length = this.dollarTag.length + 2;
        const expected = this.dollarMatched === 0 || this.dollarMatched === length - 1 ? DOLLAR : this.dollarTag[this.dollarMatched - 1];
        if (b === expected) {
          if (++this.dollarMatched === length) this.mode = "code";
        } else this.dollarMatched = b === DOLLAR ? 1 : 0;
        return false;
      }
      case "line-comment":
      case "meta":
        if (b === NL) {
          if (this.mode === "meta") this.atStart = true;
          this.mode = "code";
        }
        return false;
      case "block-comment":
        if (this.commentPrev === SLASH && b === STAR) {
          this.commentDepth++;
          this.commentPrev = -1;
        } else if (this.commentPrev === STAR && b === SLASH) {
          this.commentPrev = -1;
          if (--this.commentDepth === 0) this.mode = "code";
        } else this.commentPrev = b;
        return false;
      case "copy-header":
        if (b === NL) {
          this.mode = "copy-data";
          this.copyLine = 0;
        }
        return false;
      case "copy-data":
        if (b === NL) {
          if (this.copyLine === 2) this.mode = "code";
          this.copyLine = 0;
        } else if (this.copyLine === 0 && b === BACKSLASH) this.copyLine = 1;
        else if (this.copyLine === 1 && b === DOT) this.copyLine = 2;
        else this.copyLine = -1;
        return false;
      case "code":
        return this.code(b);
    }
  }

  private code(b: number): boolean {
    let started = false;
    if (this.pending !== -1) {
      const first = this.pending;
      this.pending = -1;
      if (first === DASH && b === DASH) {
        this.mode = "line-comment";
        // A comment separates words as a space does (text/**/$$ opens a dollar quote).
        this.prev = 0x20;
        return false;
      }
      if (first === SLASH && b === STAR) {
        this.mode = "block-comment";
        this.prev = 0x20;
        this.commentDepth = 1;
        this.commentPrev = -1;
        return false;
      }
      started = this.codeByte(first);
    }
    if ((b === DASH || b === SLASH) && this.mode === "code") {
      this.pending = b;
      return started;
    }
    return this.codeByte(b) || started;
  }

  /** A byte of a statement's code, outside strings and comments; says whether it starts the statement. */
  private codeByte(b: number): boolean {
    if (isSpace(b)) {
      if (!this.atStart) this.note(0x20);
      this.prevPrev = this.prev;
      this.prev = b;
      return false;
    }
    let started = false;
    if (this.atStart) {
      if (b === BACKSLASH) {
        // A psql command (\connect, \restrict): the rest of its line.
        this.mode = "meta";
        return false;
      }
      this.atStart = false;
      this.head = "";
      this.tail = "";
      this.fromStdin = false;
      this.copy = false;
      started = true;
    }
    if (b === SEMICOLON) {
      const isCopy = this.copy && this.fromStdin;
      this.atStart = true;
      this.prev = this.prevPrev = -1;
      if (isCopy) this.mode = "copy-header";
      return started;
    }
    if (b === QUOTE) this.mode = (this.prev === 0x45 || this.prev === 0x65) && !isWordByte(this.prevPrev) ? "escape-quote" : "quote";
    else if (b === DQUOTE) this.mode = "ident";
    else if (b === DOLLAR && !isWordByte(this.prev) && this.prev !== DOLLAR) {
      this.mode = "dollar-tag";
      this.dollarTag = [];
    }
    this.note(b);
    this.prevPrev = this.prev;
    this.prev = b;
    return started;
  }

  /** Notes a code byte (a space for any whitespace) in the statement's head and, for a COPY, its tail. */
  private note(b: number): void {
    const space = b === 0x20;
    if (this.head.length <= LO_OPEN.length) {
      if (!(space && this.head.endsWith(" "))) this.head += String.fromCharCode(b);
      if (this.head.length === 5) this.copy = this.head.toUpperCase() === "COPY ";
    }
    // Only a COPY needs its tail (FROM STDIN, any case, options after it): the many INSERTs of a
    // dump made with --inserts skip the work.
    if (!this.copy || (space && this.tail.endsWith(" "))) return;
    this.tail = (this.tail + String.fromCharCode(b).toUpperCase()).slice(-12);
    if (this.tail.endsWith(" FROM STDIN")) this.fromStdin = true;
  }
}

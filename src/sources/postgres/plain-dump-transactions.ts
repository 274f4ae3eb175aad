/**
 * pg_dump's plain format wraps each large-object section in its own `BEGIN;` … `COMMIT;`. Fed
 * to psql inside cairn's one transaction, that COMMIT commits everything before it, and what
 * follows (indexes, constraints, grants) runs on its own: a failure there left a partial
 * database. This filter drops exactly those two statements: a `BEGIN;` line whose next
 * non-blank line opens a large object (`SELECT pg_catalog.lo_open(`), and the first `COMMIT;`
 * line after it. Lines of COPY data are passed through untouched, and so is every other
 * statement: a `COMMIT;` in a procedure's body never follows a large-object `BEGIN;`.
 */
export async function* withoutLargeObjectTransactions(dump: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const filter = new LineFilter();
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of dump) {
    const bytes = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      rest = bytes;
      continue;
    }
    rest = Buffer.from(bytes.subarray(lastNewline + 1));
    const out = filter.lines(bytes.subarray(0, lastNewline + 1));
    if (out.length > 0) yield out;
  }
  const out = Buffer.concat([filter.lines(rest), filter.end()]);
  if (out.length > 0) yield out;
}

const NEWLINE = 0x0a;
const BEGIN = Buffer.from("BEGIN;");
const COMMIT = Buffer.from("COMMIT;");
const LO_OPEN = Buffer.from("SELECT pg_catalog.lo_open(");
const COPY = Buffer.from("COPY ");
const COPY_FROM_STDIN = Buffer.from(" FROM stdin;");
const END_OF_COPY = Buffer.from("\\.");

class LineFilter {
  private inCopy = false;
  private inLargeObjects = false;
  /** A `BEGIN;` line and the blank lines after it, held until the next line tells what it starts. */
  private held: Buffer[] | undefined;

  /** Filters whole lines (each ending in a newline, except perhaps the last at the end of the dump). */
  lines(bytes: Buffer): Buffer {
    const out: Buffer[] = [];
    for (let start = 0; start < bytes.length; ) {
      const newline = bytes.indexOf(NEWLINE, start);
      const end = newline === -1 ? bytes.length : newline + 1;
      this.line(bytes.subarray(start, end), out);
      start = end;
    }
    return Buffer.concat(out);
  }

  /** What is still held at the end of the dump. */
  end(): Buffer {
    const held = this.held ?? [];
    this.held = undefined;
    return Buffer.concat(held);
  }

  private line(line: Buffer, out: Buffer[]): void {
    const text = line[line.length - 1] === NEWLINE ? line.subarray(0, -1) : line;
    if (this.inCopy) {
      if (text.equals(END_OF_COPY)) this.inCopy = false;
      out.push(line);
      return;
    }
    if (this.held) {
      if (text.length === 0) {
        this.held.push(line);
        return;
      }
      const [begin, ...blanks] = this.held;
      this.held = undefined;
      if (startsWith(text, LO_OPEN)) {
        this.inLargeObjects = true;
        out.push(...blanks);
      } else {
        out.push(begin!, ...blanks);
      }
    }
    if (text.equals(BEGIN)) {
      this.held = [line];
      return;
    }
    if (this.inLargeObjects && text.equals(COMMIT)) {
      this.inLargeObjects = false;
      return;
    }
    if (startsWith(text, COPY) && endsWith(text, COPY_FROM_STDIN)) this.inCopy = true;
    out.push(line);
  }
}

function startsWith(text: Buffer, prefix: Buffer): boolean {
  return text.length >= prefix.length && text.subarray(0, prefix.length).equals(prefix);
}

function endsWith(text: Buffer, suffix: Buffer): boolean {
  return text.length >= suffix.length && text.subarray(text.length - suffix.length).equals(suffix);
}

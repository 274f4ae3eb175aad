import { Prng } from "./prng.js";

/**
 * Text that compresses like real text. Real text repeats at two levels: a few words are very
 * common (Zipf), and whole phrases, identifiers and log message templates recur. Both are
 * modelled: a seeded vocabulary and a phrase bank, each drawn with Zipf weights; code and logs
 * additionally reuse a small per-file set of identifiers or message templates. zstd compresses
 * the result about 3-5x, like real documents, source code and logs.
 */
export type TextStyle = "prose" | "code" | "log";

const COMMON_WORDS = (
  "the of and to a in is that for it as with was on be by this are or from at an not which have has " +
  "but can all will one their more when if there been into other we they its also new time may data " +
  "file system value user should each use only would these some than then first two any such server " +
  "request error number list default after before between under over state node type name set get " +
  "config update read write start stop open close check result return table index page"
).split(" ");

const ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
  "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "str", "th", "tr", ""];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y"];
const CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "x"];

const VOCABULARY_SIZE = 8000;
const PHRASE_COUNT = 20000;
const WRAP_COLUMN = 78;

const NL = 10;
const SPACE = 32;
const COMMA = 44;
const DOT = 46;

function ascii(text: string): Uint8Array {
  return Buffer.from(text, "latin1");
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

const HEADING = ascii("## ");
const INDENT = ascii("    ");
const CODE_OPENERS = ["export function ", "async function ", "class "].map(ascii);
const CODE_CONDITIONS = ["if (", "for (const ", "while (", "} else if ("].map(ascii);
const CODE_OPERATORS = [" > ", " of ", " !== ", " < ", " === "].map(ascii);
const CODE_DECLARATIONS = ["const ", "let ", "return ", "await ", "this."].map(ascii);
const COMMENT = ascii("// ");
const BLOCK_OPEN = ascii(") {");
const ASSIGN = ascii(" = ");
const ARGS_SEPARATOR = ascii(", ");
const CALL_END = ascii(");");
const LOG_LEVELS = ["INFO ", "INFO ", "INFO ", "INFO ", "DEBUG", "DEBUG", "WARN ", "ERROR"].map(ascii);

/**
 * Zipf-Mandelbrot sampler: the top random bits index a table in which rank r fills a share of
 * slots proportional to 1/(r + q). Small per-file samplers use small tables to stay cheap.
 */
class Zipf {
  private readonly table: Uint16Array;
  private readonly shift: number;

  constructor(ranks: number, q: number, bits: number) {
    this.table = new Uint16Array(1 << bits);
    this.shift = 32 - bits;
    let total = 0;
    for (let r = 0; r < ranks; r++) total += 1 / (r + q);
    let slot = 0;
    let cumulative = 0;
    for (let r = 0; r < ranks; r++) {
      cumulative += 1 / (r + q);
      const end = Math.round((cumulative / total) * this.table.length);
      for (; slot < end; slot++) this.table[slot] = r;
    }
  }

  draw(prng: Prng): number {
    return this.table[prng.next() >>> this.shift];
  }
}

/** Writes into a fixed buffer and silently stops at its end, so generators just loop until full. */
class ByteWriter {
  pos = 0;
  /** Column of the next byte; only meaningful for content without embedded newlines. */
  column = 0;
  constructor(readonly buf: Uint8Array) {}

  get full(): boolean {
    return this.pos >= this.buf.length;
  }

  bytes(src: Uint8Array): void {
    const { buf, pos } = this;
    const n = Math.min(src.length, buf.length - pos);
    if (n > 64) {
      buf.set(n === src.length ? src : src.subarray(0, n), pos);
    } else {
      for (let i = 0; i < n; i++) buf[pos + i] = src[i];
    }
    this.pos = pos + n;
    this.column += n;
  }

  byte(c: number): void {
    if (this.pos < this.buf.length) this.buf[this.pos++] = c;
    this.column = c === NL ? 0 : this.column + 1;
  }

  /** Decimal digits of a non-negative integer, zero-padded to `width`. */
  number(n: number, width = 1): void {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    for (let i = digits; i < width; i++) this.byte(48);
    let div = Math.pow(10, digits - 1);
    for (let i = 0; i < digits; i++) {
      this.byte(48 + (Math.floor(n / div) % 10));
      div /= 10;
    }
  }
}

export class TextGenerator {
  private readonly words: string[];
  private readonly wordZipf: Zipf;
  private readonly phraseBytes: Uint8Array[];
  private readonly capitalPhraseBytes: Uint8Array[];
  private readonly phraseZipf: Zipf;

  constructor(seed: number) {
    const prng = new Prng(seed, "vocabulary");
    const seen = new Set(COMMON_WORDS);
    const invented: string[] = [];
    while (invented.length < VOCABULARY_SIZE - COMMON_WORDS.length) {
      let word = "";
      const syllables = 1 + prng.int(3) + (prng.chance(0.2) ? 1 : 0);
      for (let s = 0; s < syllables; s++) word += prng.pick(ONSETS) + prng.pick(VOWELS);
      word += prng.pick(CODAS);
      if (word.length < 2 || seen.has(word)) continue;
      seen.add(word);
      invented.push(word);
    }
    // Frequent words are short in real languages.
    invented.sort((x, y) => x.length - y.length);
    this.words = [...COMMON_WORDS, ...invented];
    this.wordZipf = new Zipf(this.words.length, 2.7, 16);

    const phrases: string[] = [];
    for (let i = 0; i < PHRASE_COUNT; i++) phrases.push(this.sentence(prng, 1 + prng.int(5)));
    this.phraseBytes = phrases.map(ascii);
    this.capitalPhraseBytes = phrases.map((p) => ascii(capitalize(p)));
    this.phraseZipf = new Zipf(PHRASE_COUNT, 40, 16);
  }

  /** A word with Zipf frequency: common words dominate, like real text. */
  word(prng: Prng): string {
    return this.words[this.wordZipf.draw(prng)];
  }

  /** A uniformly chosen invented word, capitalized: names of people, products, places. */
  name(prng: Prng): string {
    return capitalize(this.words[COMMON_WORDS.length + prng.int(this.words.length - COMMON_WORDS.length)]);
  }

  sentence(prng: Prng, count: number): string {
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(this.word(prng));
    return parts.join(" ");
  }

  /** Fills `out` completely with text of the given style. */
  fill(out: Uint8Array, prng: Prng, style: TextStyle): void {
    const w = new ByteWriter(out);
    if (style === "prose") this.prose(w, prng);
    else if (style === "code") this.code(w, prng);
    else this.log(w, prng);
  }

  private prose(w: ByteWriter, prng: Prng): void {
    while (!w.full) {
      if (prng.chance(0.1)) {
        w.bytes(HEADING);
        w.bytes(this.capitalPhraseBytes[this.phraseZipf.draw(prng)]);
        w.byte(NL);
        w.byte(NL);
      }
      const sentences = 2 + prng.int(5);
      for (let s = 0; s < sentences && !w.full; s++) {
        const phrases = 1 + prng.int(4);
        for (let i = 0; i < phrases; i++) {
          const rank = this.phraseZipf.draw(prng);
          const bytes = i === 0 ? this.capitalPhraseBytes[rank] : this.phraseBytes[rank];
          if (w.column > 0) w.byte(w.column + bytes.length >= WRAP_COLUMN ? NL : SPACE);
          w.bytes(bytes);
          if (i < phrases - 1 && prng.chance(0.15)) w.byte(COMMA);
        }
        w.byte(DOT);
      }
      w.byte(NL);
      w.byte(NL);
    }
  }

  /** Source-like lines over a small per-file set of identifiers, as real modules reuse their names. */
  private code(w: ByteWriter, prng: Prng): void {
    const identifiers: Uint8Array[] = [];
    for (let i = 0, n = 20 + prng.int(60); i < n; i++) {
      let id = this.word(prng);
      for (let k = prng.int(3); k > 0; k--) id += capitalize(this.word(prng));
      identifiers.push(ascii(id));
    }
    const local = new Zipf(identifiers.length, 1.5, 10);
    const ident = (): Uint8Array => identifiers[local.draw(prng)];
    let depth = 0;
    while (!w.full) {
      for (let i = 0; i < depth; i++) w.bytes(INDENT);
      const kind = prng.int(10);
      if (depth === 0) {
        w.bytes(prng.pick(CODE_OPENERS));
        w.bytes(ident());
        w.byte(40); // "("
        w.bytes(ident());
        w.bytes(BLOCK_OPEN);
        depth = 1;
      } else if (kind < 2) {
        w.bytes(COMMENT);
        w.bytes(this.phraseBytes[this.phraseZipf.draw(prng)]);
      } else if (kind < 4 && depth < 4) {
        w.bytes(prng.pick(CODE_CONDITIONS));
        w.bytes(ident());
        w.bytes(prng.pick(CODE_OPERATORS));
        w.bytes(ident());
        w.bytes(BLOCK_OPEN);
        depth++;
      } else if (kind < 6) {
        depth--;
        w.byte(125); // "}"
        if (depth === 0) w.byte(NL);
      } else {
        w.bytes(prng.pick(CODE_DECLARATIONS));
        w.bytes(ident());
        w.bytes(ASSIGN);
        w.bytes(ident());
        w.byte(DOT);
        w.bytes(ident());
        w.byte(40);
        w.bytes(ident());
        if (prng.chance(0.4)) {
          w.bytes(ARGS_SEPARATOR);
          w.number(prng.int(prng.chance(0.5) ? 10 : 10_000));
        }
        w.bytes(CALL_END);
      }
      w.byte(NL);
    }
  }

  /** Timestamped lines from a per-file set of message templates with varying key=value fields. */
  private log(w: ByteWriter, prng: Prng): void {
    const templates: { text: Uint8Array; keys: Uint8Array[] }[] = [];
    for (let i = 0, n = 10 + prng.int(40); i < n; i++) {
      const keys: Uint8Array[] = [];
      for (let k = prng.int(4); k > 0; k--) keys.push(ascii(` ${this.word(prng)}=`));
      templates.push({ text: ascii(this.sentence(prng, 2 + prng.int(7))), keys });
    }
    const choose = new Zipf(templates.length, 1.5, 10);
    const components = [0, 1, 2, 3].map(() => ascii(`[${this.word(prng)}-`));
    let ms = Date.UTC(2024, 0, 1) + prng.int(60 * 86_400_000);
    let day = -1;
    let datePrefix = ascii("");
    while (!w.full) {
      ms += prng.int(prng.chance(0.9) ? 200 : 60_000);
      const today = Math.floor(ms / 86_400_000);
      if (today !== day) {
        day = today;
        datePrefix = ascii(new Date(ms).toISOString().slice(0, 11));
      }
      const inDay = ms % 86_400_000;
      w.bytes(datePrefix);
      w.number(Math.floor(inDay / 3_600_000), 2);
      w.byte(58); // ":"
      w.number(Math.floor(inDay / 60_000) % 60, 2);
      w.byte(58);
      w.number(Math.floor(inDay / 1000) % 60, 2);
      w.byte(DOT);
      w.number(inDay % 1000, 3);
      w.byte(90); // "Z"
      w.byte(SPACE);
      w.bytes(prng.pick(LOG_LEVELS));
      w.byte(SPACE);
      w.bytes(prng.pick(components));
      w.number(prng.int(8));
      w.byte(93); // "]"
      w.byte(SPACE);
      const template = templates[choose.draw(prng)];
      w.bytes(template.text);
      for (const key of template.keys) {
        w.bytes(key);
        w.number(prng.int(prng.chance(0.5) ? 100 : 1_000_000));
      }
      w.byte(NL);
    }
  }
}

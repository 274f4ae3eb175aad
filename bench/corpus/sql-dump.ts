import { open, utimes } from "node:fs/promises";
import { DAY_SECONDS, dayStart } from "./clock.js";
import { Prng } from "./prng.js";
import { TextGenerator } from "./text.js";

/**
 * A PostgreSQL plain-format dump (`pg_dump > app.sql`) of a small application database whose
 * rows change day by day. Only a compact row-state model is kept: per row, a version counter
 * (0 = deleted) and the day of its last update. Every field is a pure function of (seed, table,
 * id) for what never changes and (seed, table, id, version) for what updates touch, so the dump
 * of day N is rebuilt from (seed, N) by replaying the cheap state changes of days 2..N.
 *
 * Daily changes follow a typical OLTP application: about 1% of rows appended, contiguous runs of
 * recent rows updated (orders moving through their lifecycle), a few hundred scattered updates
 * and deletes mostly among recent rows, and retention deleting the oldest events (about 0.2% of
 * all rows deleted). Most of the dump is cold history that stays byte-identical, as it does in
 * real dumps; how much of it a chunking backup tool reuses depends on its chunk size.
 */
export interface SqlDumpParams {
  /** Rows across all tables on day 1. */
  rows: number;
}

/** The dump of day N is taken at 02:00 and reflects the 24 hours before midnight. */
const DUMP_HOUR = 2;
const CHUNK_BYTES = 1 << 20;
/** "Recent" rows: the newest 5% of ids. */
const RECENT_SHARE = 0.05;
/** Day-1 rows were created over the two years before day 1. */
const HISTORY_DAYS = 730;

interface RowContext {
  id: number;
  /** Fields that never change for this row. */
  fixed: Prng;
  /** Fields that each update of the row rewrites. */
  current: Prng;
  version: number;
  createdAt: number;
  updatedAt: number;
  userCount: number;
  text: TextGenerator;
}

interface TableSpec {
  name: string;
  /** Share of the day-1 rows. */
  share: number;
  /** Per-day change rates, as fractions of the live rows. */
  appendRate: number;
  clusterRate: number;
  /** Clustered updates start within this trailing fraction of the ids (recent orders get shipped). */
  clusterWindow: number;
  scatterRate: number;
  /** Share of scattered updates among the newest RECENT_SHARE of ids; the rest hit any row. */
  scatterRecent: number;
  deleteRate: number;
  /** Oldest rows deleted by a retention policy. */
  retentionRate: number;
  columns: [name: string, type: string][];
  indexes: string[];
  row(ctx: RowContext): string;
}

const COUNTRIES = ["US", "US", "US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "IT", "PL", "SE"];
const MAIL_DOMAINS = ["gmail.com", "gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "example.org"];
const USER_STATUS = ["active", "active", "active", "active", "active", "inactive", "suspended", "pending"];
const ORDER_STATUS = ["pending", "paid", "shipped", "delivered", "delivered", "refunded"];
const CURRENCIES = ["USD", "USD", "EUR", "EUR", "GBP", "JPY", "CAD"];
const EVENT_KINDS = ["page_view", "page_view", "page_view", "click", "click", "search", "login", "logout",
  "add_to_cart", "purchase", "api_call", "api_call"];
const CHANNELS = ["web", "web", "ios", "android", "api"];
const STREETS = ["Street", "Avenue", "Road", "Lane", "Way", "Boulevard"];
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
  "okhttp/4.12.0",
];

function money(cents: number): string {
  return (cents / 100).toFixed(2);
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hex(prng: Prng, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++) {
    const w = prng.next();
    s += HEX_BYTES[w >>> 24] + HEX_BYTES[(w >>> 16) & 0xff] + HEX_BYTES[(w >>> 8) & 0xff] + HEX_BYTES[w & 0xff];
  }
  return s;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

const datePrefixes = new Map<number, string>();

/** `YYYY-MM-DD hh:mm:ss.uuuuuu+00`, the timestamptz text form; date parts are cached per day. */
function timestamp(seconds: number, micros: number): string {
  const day = Math.floor(seconds / DAY_SECONDS);
  let date = datePrefixes.get(day);
  if (date === undefined) {
    date = new Date(day * DAY_SECONDS * 1000).toISOString().slice(0, 10);
    datePrefixes.set(day, date);
  }
  const s = seconds - day * DAY_SECONDS;
  const time = `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
  return `${date} ${time}.${String(micros).padStart(6, "0")}+00`;
}

const TABLES: TableSpec[] = [
  {
    name: "users",
    share: 0.15,
    appendRate: 0.004,
    clusterRate: 0.002,
    clusterWindow: 1,
    scatterRate: 0.001,
    scatterRecent: 0.7,
    deleteRate: 0.0001,
    retentionRate: 0,
    columns: [["id", "bigint"], ["username", "text"], ["email", "text"], ["full_name", "text"],
      ["country", "character(2)"], ["status", "text"], ["balance", "numeric(12,2)"],
      ["created_at", "timestamp with time zone"], ["updated_at", "timestamp with time zone"],
      ["preferences", "jsonb"]],
    indexes: ["CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email);"],
    row({ id, fixed, current, createdAt, updatedAt, text }) {
      const first = text.name(fixed);
      const last = text.name(fixed);
      const login = `${first.toLowerCase()}.${last.toLowerCase()}${fixed.int(100)}`;
      const prefs = `{"theme": "${current.pick(["light", "dark", "system"])}", "locale": "${
        current.pick(["en-US", "en-GB", "de-DE", "fr-FR"])}", "newsletter": ${current.chance(0.3)}, "notifications": {"email": ${
        current.chance(0.7)}, "sms": ${current.chance(0.2)}}}`;
      return `${id}\t${login}\t${login}@${fixed.pick(MAIL_DOMAINS)}\t${first} ${last}\t${fixed.pick(COUNTRIES)}\t${
        current.pick(USER_STATUS)}\t${money(current.logUniform(1, 5_000_000))}\t${timestamp(createdAt, fixed.int(1e6))}\t${
        timestamp(updatedAt, current.int(1e6))}\t${prefs}`;
    },
  },
  {
    name: "orders",
    share: 0.35,
    appendRate: 0.01,
    clusterRate: 0.006,
    clusterWindow: 0.1,
    scatterRate: 0.0002,
    scatterRecent: 0.5,
    deleteRate: 0.00005,
    retentionRate: 0,
    columns: [["id", "bigint"], ["user_id", "bigint"], ["status", "text"], ["currency", "character(3)"],
      ["total", "numeric(12,2)"], ["item_count", "integer"], ["created_at", "timestamp with time zone"],
      ["updated_at", "timestamp with time zone"], ["shipping_address", "text"], ["metadata", "jsonb"]],
    indexes: ["CREATE INDEX orders_user_id_idx ON public.orders USING btree (user_id);",
      "CREATE INDEX orders_status_created_at_idx ON public.orders USING btree (status, created_at);"],
    row({ id, fixed, current, version, createdAt, updatedAt, userCount, text }) {
      const items = 1 + fixed.int(5);
      let skus = "";
      for (let i = 0; i < items; i++) {
        skus += `${i > 0 ? ", " : ""}{"sku": "SKU-${String(fixed.int(100_000)).padStart(5, "0")}", "qty": ${1 + fixed.int(3)}}`;
      }
      const address = fixed.chance(0.1)
        ? "\\N"
        : `${1 + fixed.int(9999)} ${text.name(fixed)} ${fixed.pick(STREETS)}, ${text.name(fixed)} ${fixed.int(100_000)}`;
      // Updates walk an order through its lifecycle.
      const status = ORDER_STATUS[Math.min(version - 1 + fixed.int(2), ORDER_STATUS.length - 1)];
      return `${id}\t${1 + fixed.int(userCount)}\t${status}\t${fixed.pick(CURRENCIES)}\t${
        money(fixed.logUniform(100, 200_000))}\t${items}\t${timestamp(createdAt, fixed.int(1e6))}\t${
        timestamp(updatedAt, current.int(1e6))}\t${address}\t{"channel": "${fixed.pick(CHANNELS)}", "coupon": ${
        fixed.chance(0.2) ? `"${text.word(fixed).toUpperCase()}${fixed.int(50)}"` : "null"}, "items": [${skus}]}`;
    },
  },
  {
    name: "events",
    share: 0.48,
    appendRate: 0.015,
    clusterRate: 0,
    clusterWindow: 1,
    scatterRate: 0.0001,
    scatterRecent: 0.9,
    deleteRate: 0.00002,
    retentionRate: 0.004,
    columns: [["id", "bigint"], ["user_id", "bigint"], ["kind", "text"], ["source_ip", "inet"],
      ["created_at", "timestamp with time zone"], ["payload", "jsonb"]],
    indexes: ["CREATE INDEX events_user_id_created_at_idx ON public.events USING btree (user_id, created_at);"],
    row({ id, fixed, version, createdAt, userCount, text }) {
      const ip = fixed.chance(0.6)
        ? `10.${fixed.int(256)}.${fixed.int(256)}.${fixed.int(256)}`
        : `${1 + fixed.int(223)}.${fixed.int(256)}.${fixed.int(256)}.${fixed.int(256)}`;
      const path = `/${text.word(fixed)}/${text.word(fixed)}`;
      return `${id}\t${1 + fixed.int(userCount)}\t${fixed.pick(EVENT_KINDS)}\t${ip}\t${
        timestamp(createdAt, fixed.int(1e6))}\t{"path": "${path}", "duration_ms": ${fixed.logUniform(1, 30_000)}, "session": "${
        hex(fixed, 4)}", "user_agent": "${fixed.pick(USER_AGENTS)}", "processed": ${version > 1}}`;
    },
  },
  {
    name: "products",
    share: 0.02,
    appendRate: 0.002,
    clusterRate: 0.02,
    clusterWindow: 1,
    scatterRate: 0.01,
    scatterRecent: 0,
    deleteRate: 0.001,
    retentionRate: 0,
    columns: [["id", "bigint"], ["sku", "text"], ["name", "text"], ["description", "text"],
      ["price", "numeric(10,2)"], ["stock", "integer"], ["updated_at", "timestamp with time zone"]],
    indexes: ["CREATE UNIQUE INDEX products_sku_key ON public.products USING btree (sku);"],
    row({ id, fixed, current, updatedAt, text }) {
      return `${id}\tSKU-${String(id).padStart(5, "0")}\t${text.name(fixed)} ${text.word(fixed)} ${
        text.name(fixed)}\t${text.sentence(fixed, 8 + fixed.int(40))}.\t${money(current.logUniform(99, 100_000))}\t${
        current.int(500)}\t${timestamp(updatedAt, current.int(1e6))}`;
    },
  },
];

/** Row states of one table; index = id, ids start at 1. */
class TableState {
  version: Uint16Array;
  updatedDay: Uint16Array;
  nextId: number;
  live: number;
  /** Lowest id retention has not yet passed. */
  oldest = 1;
  /** firstId[d] = first id appended on day d (d >= 2); day-1 rows are ids below firstId[2]. */
  readonly firstId: number[] = [];

  constructor(readonly initialRows: number) {
    this.version = new Uint16Array(initialRows + 1).fill(1, 1);
    this.updatedDay = new Uint16Array(initialRows + 1).fill(1, 1);
    this.nextId = initialRows + 1;
    this.live = initialRows;
  }

  applyDay(day: number, spec: TableSpec, prng: Prng): void {
    const base = this.live;
    for (let n = Math.round(base * spec.retentionRate); n > 0 && this.oldest < this.nextId; this.oldest++) {
      if (this.version[this.oldest] > 0) {
        this.delete(this.oldest);
        n--;
      }
    }
    for (let n = Math.round(base * spec.deleteRate); n > 0; n--) {
      const id = this.randomLiveId(prng, 0);
      if (id > 0) this.delete(id);
    }
    const cluster = Math.round(base * spec.clusterRate);
    if (cluster > 0) {
      const window = Math.max(1, Math.floor((this.nextId - 1) * spec.clusterWindow) - cluster);
      const start = Math.max(1, this.nextId - cluster - prng.int(window));
      for (let id = start; id < start + cluster && id < this.nextId; id++) {
        if (this.version[id] > 0) this.touch(id, day);
      }
    }
    for (let n = Math.round(base * spec.scatterRate); n > 0; n--) {
      const id = this.randomLiveId(prng, prng.chance(spec.scatterRecent) ? RECENT_SHARE : 0);
      if (id > 0) this.touch(id, day);
    }
    const appended = Math.round(base * spec.appendRate);
    this.firstId[day] = this.nextId;
    this.grow(this.nextId + appended);
    this.version.fill(1, this.nextId, this.nextId + appended);
    this.updatedDay.fill(day, this.nextId, this.nextId + appended);
    this.nextId += appended;
    this.live += appended;
  }

  /** Creation time: day-1 rows spread over the history, later rows over the 24 hours before their day. */
  createdAt(id: number, day: number): number {
    let d = day;
    while (d >= 2 && this.firstId[d] > id) d--;
    if (d < 2) return dayStart(1) - HISTORY_DAYS * DAY_SECONDS + Math.floor(((id - 1) / this.initialRows) * HISTORY_DAYS * DAY_SECONDS);
    const count = (d === day ? this.nextId : this.firstId[d + 1]) - this.firstId[d];
    return dayStart(d) - DAY_SECONDS + Math.floor(((id - this.firstId[d]) / count) * DAY_SECONDS);
  }

  private delete(id: number): void {
    this.version[id] = 0;
    this.live--;
  }

  private touch(id: number, day: number): void {
    if (this.version[id] < 0xffff) this.version[id]++;
    this.updatedDay[id] = day;
  }

  /** A random live id (among the newest `recent` share of ids, if not 0), or 0 if a few draws only found deleted rows. */
  private randomLiveId(prng: Prng, recent: number): number {
    const span = recent > 0 ? Math.max(1, Math.floor((this.nextId - 1) * recent)) : this.nextId - 1;
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = this.nextId - 1 - prng.int(span);
      if (this.version[id] > 0) return id;
    }
    return 0;
  }

  private grow(capacity: number): void {
    if (capacity <= this.version.length) return;
    const size = Math.max(capacity, Math.ceil(this.version.length * 1.25));
    const version = new Uint16Array(size);
    version.set(this.version);
    this.version = version;
    const updatedDay = new Uint16Array(size);
    updatedDay.set(this.updatedDay);
    this.updatedDay = updatedDay;
  }
}

const HEADER = `--
-- PostgreSQL database dump
--

-- Dumped from database version 16.4
-- Dumped by pg_dump version 16.4

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

`;

function schema(spec: TableSpec): string {
  const t = spec.name;
  const columns = spec.columns.map(([name, type]) => `    ${name} ${type}${name === "id" ? " NOT NULL" : ""}`);
  return `--
-- Name: ${t}; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public.${t} (
${columns.join(",\n")}
);


ALTER TABLE public.${t} OWNER TO app;

--
-- Name: ${t}_id_seq; Type: SEQUENCE; Schema: public; Owner: app
--

CREATE SEQUENCE public.${t}_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER SEQUENCE public.${t}_id_seq OWNER TO app;

ALTER SEQUENCE public.${t}_id_seq OWNED BY public.${t}.id;

ALTER TABLE ONLY public.${t} ALTER COLUMN id SET DEFAULT nextval('public.${t}_id_seq'::regclass);

`;
}

function constraints(spec: TableSpec, state: TableState): string {
  const t = spec.name;
  return `--
-- Name: ${t}_id_seq; Type: SEQUENCE SET; Schema: public; Owner: app
--

SELECT pg_catalog.setval('public.${t}_id_seq', ${state.nextId - 1}, true);

--
-- Name: ${t} ${t}_pkey; Type: CONSTRAINT; Schema: public; Owner: app
--

ALTER TABLE ONLY public.${t}
    ADD CONSTRAINT ${t}_pkey PRIMARY KEY (id);

${spec.indexes.join("\n\n")}

`;
}

/** Replays the row-state changes of days 2..day. */
function tableStates(seed: number, params: SqlDumpParams, day: number): TableState[] {
  return TABLES.map((spec, t) => {
    const state = new TableState(Math.max(10, Math.round(params.rows * spec.share)));
    for (let d = 2; d <= day; d++) state.applyDay(d, spec, new Prng(seed, "sql-day", t, d));
    return state;
  });
}

/** Writes the dump of `day` to `path` (truncating it in place, like `pg_dump > app.sql`). */
export async function writeSqlDump(
  path: string,
  opts: { seed: number; day: number; params: SqlDumpParams },
): Promise<{ bytes: number }> {
  const { seed, day } = opts;
  const states = tableStates(seed, opts.params, day);
  const text = new TextGenerator(seed);
  const userCount = states[0].initialRows;
  const file = await open(path, "w");
  let bytes = 0;
  // Rows are ASCII: latin1 encoding straight into a reused chunk is the cheapest way to bytes.
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  const flush = async (): Promise<void> => {
    await file.write(chunk, 0, used);
    bytes += used;
    used = 0;
  };
  /** Rows are added inline in the loop below, to keep the per-row path free of awaits. */
  const emit = async (s: string): Promise<void> => {
    if (used + s.length > CHUNK_BYTES) await flush();
    used += chunk.write(s, used, "latin1");
  };
  try {
    await emit(HEADER);
    for (const spec of TABLES) await emit(schema(spec));
    for (const [t, spec] of TABLES.entries()) {
      const state = states[t];
      await emit(`--\n-- Data for Name: ${spec.name}; Type: TABLE DATA; Schema: public; Owner: app\n--\n\n`);
      await emit(`COPY public.${spec.name} (${spec.columns.map(([name]) => name).join(", ")}) FROM stdin;\n`);
      for (let id = 1; id < state.nextId; id++) {
        const version = state.version[id];
        if (version === 0) continue;
        const createdAt = state.createdAt(id, day);
        const current = new Prng(seed, "sql-row", t, id, version);
        const updatedAt = version === 1
          ? createdAt + current.int(3600)
          : dayStart(state.updatedDay[id]) - DAY_SECONDS + current.int(DAY_SECONDS);
        const fixed = new Prng(seed, "sql-row", t, id);
        const line = spec.row({ id, fixed, current, version, createdAt, updatedAt, userCount, text }) + "\n";
        if (used + line.length > CHUNK_BYTES) await flush();
        used += chunk.write(line, used, "latin1");
      }
      await emit("\\.\n\n\n");
    }
    for (const [t, spec] of TABLES.entries()) await emit(constraints(spec, states[t]));
    await emit("--\n-- PostgreSQL database dump complete\n--\n\n");
    await flush();
  } finally {
    await file.close();
  }
  const mtime = dayStart(day) + DUMP_HOUR * 3600;
  await utimes(path, mtime, mtime);
  return { bytes };
}

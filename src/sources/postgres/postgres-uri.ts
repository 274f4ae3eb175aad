import { UsageError } from "../../errors.js";

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new UsageError(`PostgreSQL URI: invalid percent-encoding in the ${what}`);
  }
}

/**
 * A libpq connection URI, `postgres[ql]://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`.
 * cairn never interprets the connection itself: the URI goes to pg_dump/psql as given (so
 * PGPASSWORD, ~/.pgpass, sslmode and every other libpq setting keep working). It is parsed
 * only to name the snapshot path, to point the same connection at another database, and to
 * print it without the password.
 */
/** Connection parameters that hold secrets: the password, and the passphrase of the client's SSL key. */
const SECRET_PARAMS = new Set(["password", "sslpassword"]);

export class PostgresUri {
  private constructor(
    private readonly scheme: string,
    private readonly userinfo: string | undefined,
    private readonly hostspec: string,
    private readonly pathDatabase: string | undefined,
    private readonly params: ReadonlyArray<readonly [string, string]>,
  ) {}

  static isPostgresUri(text: string): boolean {
    return /^postgres(ql)?:\/\//i.test(text);
  }

  static parse(text: string): PostgresUri {
    const match = /^(postgres(?:ql)?):\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/is.exec(text);
    if (!match) throw new UsageError(`not a PostgreSQL URI: ${JSON.stringify(text)} (expected postgres://user@host:port/dbname)`);
    const [, scheme, authority = "", path, query] = match;
    const at = authority.lastIndexOf("@");
    const params: Array<readonly [string, string]> = [];
    for (const pair of (query ?? "").split("&").filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`PostgreSQL URI: query parameter ${JSON.stringify(pair)} is not key=value`);
      params.push([decode(pair.slice(0, eq), "query"), decode(pair.slice(eq + 1), "query")]);
    }
    const db = path && path.length > 1 ? decode(path.slice(1), "database name") : undefined;
    return new PostgresUri(scheme!.toLowerCase(), at >= 0 ? authority.slice(0, at) : undefined, at >= 0 ? authority.slice(at + 1) : authority, db, params);
  }

  private param(key: string): string | undefined {
    return this.params.findLast(([k]) => k === key)?.[1];
  }

  /** The database named by the URI (a `dbname` query parameter wins over the path, as in libpq). */
  get database(): string | undefined {
    return this.param("dbname") ?? this.pathDatabase;
  }

  /**
   * The server as named in the snapshot: the first host (a unix-socket directory, or no host at
   * all, is `localhost`), with `-<port>` appended when the port is not 5432. PGHOST and PGPORT
   * stand in for a URI that names neither, as they do for libpq.
   */
  serverName(env: NodeJS.ProcessEnv = process.env): string {
    const first = this.hostspec.split(",")[0] ?? "";
    const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(first)!;
    const rawHost = hostPort[1] ? decode(hostPort[1], "host").replace(/^\[(.*)\]$/, "$1") : "";
    const host = (rawHost || this.param("host")?.split(",")[0] || env.PGHOST?.split(",")[0] || "").trim();
    const port = (hostPort[2] || this.param("port")?.split(",")[0] || env.PGPORT?.split(",")[0] || "5432").trim();
    const name = host === "" || host.startsWith("/") || host.startsWith("@") ? "localhost" : host;
    return port === "5432" ? name : `${name}-${port}`;
  }

  /** The same connection (user, hosts, every parameter) to another database. */
  withDatabase(database: string): string {
    const params = this.params.filter(([k]) => k !== "dbname");
    return this.format(this.userinfo, database, params);
  }

  /** The URI without its password, for messages and the snapshot. */
  redacted(): string {
    const user = this.userinfo?.split(":")[0];
    return this.format(user, this.database, this.params.filter(([k]) => !SECRET_PARAMS.has(k) && k !== "dbname"));
  }

  private format(userinfo: string | undefined, database: string | undefined, params: ReadonlyArray<readonly [string, string]>): string {
    const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
    return `${this.scheme}://${userinfo !== undefined ? `${userinfo}@` : ""}${this.hostspec}${database !== undefined ? `/${encodeURIComponent(database)}` : "/"}${query ? `?${query}` : ""}`;
  }
}

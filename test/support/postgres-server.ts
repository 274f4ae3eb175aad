// A real, private PostgreSQL server for integration tests.
//
// Debian's server binaries (/usr/lib/postgresql/<newest>/bin) run as the `postgres` system user
// (the server refuses to run as root) on a fresh cluster in a temp dir, listening on a unix
// socket in that dir and on 127.0.0.1:<free port>. Every connection needs a password (scram),
// so tests exercise real password auth. Never skips: throws when the server cannot start.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";

export interface PostgresServer {
  /** Unix socket directory (use as PGHOST / host=). */
  host: string;
  /** TCP port on 127.0.0.1 (the socket file uses the same number). */
  port: number;
  /** Superuser role; its password is POSTGRES_PASSWORD. */
  user: string;
  /** Directory with psql, pg_dump, pg_restore, … of the server's version. */
  binDir: string;
  /** process.env plus PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE and binDir first in PATH. */
  env: NodeJS.ProcessEnv;
  /** postgresql://user:password@127.0.0.1:port/db (TCP). */
  url(db: string): string;
  /** Runs `sql` with psql over the socket (ON_ERROR_STOP, unaligned, tuples only); returns stdout. */
  psql(db: string, sql: string): Promise<string>;
  /** Fast shutdown and removal of the cluster. */
  stop(): Promise<void>;
}

export const POSTGRES_USER = "cairn";
export const POSTGRES_PASSWORD = "secret";
/** OS user the server runs as (created by Debian's postgresql-common). */
const OS_USER = "postgres";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    p.on("error", (e) => {
      clearTimeout(t);
      reject(new Error(`could not run ${cmd}: ${e.message}`));
    });
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    p.stdin.on("error", () => {}); // the process may exit before reading all input
    p.stdin.end(opts.input ?? "");
  });
}

function describeRun(cmd: string, args: string[], r: RunResult): string {
  return `${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}${r.stderr}`.trim();
}

/** Newest /usr/lib/postgresql/<ver>/bin that has a server. */
function findBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "postgres")))
        .sort((a, b) => parseFloat(b) - parseFloat(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      `cannot start PostgreSQL for tests: no server under ${base}/<version>/bin; run scripts/install-test-deps.sh`,
    );
  }
  return join(base, versions[0]!, "bin");
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const binDir = findBinDir();
  if (process.getuid?.() !== 0) {
    throw new Error("cannot start PostgreSQL for tests: must run as root (to run the server as the postgres user)");
  }
  const osUser = lookupUser(OS_USER);
  if (!osUser) {
    throw new Error(`cannot start PostgreSQL for tests: no '${OS_USER}' system user (install the postgresql package)`);
  }

  // Under /tmp (1777) so the postgres user can reach it whatever TMPDIR is.
  const dir = await mkdtemp("/tmp/cairn-pg-");
  const dataDir = join(dir, "data");
  const sockDir = join(dir, "sock");
  const logPath = join(dir, "server.log");
  const pwFile = join(dir, "pw");
  await mkdir(sockDir);
  await writeFile(pwFile, POSTGRES_PASSWORD + "\n", { mode: 0o600 });
  await writeFile(logPath, "");
  for (const p of [dir, sockDir, pwFile, logPath]) await chown(p, osUser.uid, osUser.gid);
  // 0755: clients running as other users can reach the socket.
  await chmod(dir, 0o755);
  await chmod(sockDir, 0o755);

  const asPg = (args: string[]): Promise<RunResult> =>
    run("runuser", ["-u", OS_USER, "--", ...args], {
      cwd: dir, // postgres may not be able to enter the caller's cwd
      env: { ...process.env, LC_ALL: "C", LANG: "C" },
    });

  let stopped = false;
  let started = false;
  const onExit = (): void => {
    // Test process died without stop(): immediate shutdown, so no server outlives it.
    const pid = postmasterPid(dataDir);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGQUIT");
      } catch {
        // gone
      }
    }
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (started || postmasterPid(dataDir) !== undefined) {
      const r = await asPg([join(binDir, "pg_ctl"), "-D", dataDir, "stop", "-m", "fast", "-w", "-t", "30"]);
      if (r.code !== 0) {
        const pid = postmasterPid(dataDir);
        if (pid !== undefined) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }
    }
    process.removeListener("exit", onExit);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  const fail = async (what: string): Promise<never> => {
    let log = "";
    try {
      log = (await readFile(logPath, "utf8")).split("\n").slice(-30).join("\n");
    } catch {
      // no log yet
    }
    await stop();
    throw new Error(`cannot start PostgreSQL for tests: ${what}${log ? `\n--- server log (tail) ---\n${log}` : ""}`);
  };

  const initArgs = [
    join(binDir, "initdb"),
    "-D", dataDir,
    "-U", POSTGRES_USER,
    `--pwfile=${pwFile}`,
    "--auth-local=scram-sha-256",
    "--auth-host=scram-sha-256",
    "-E", "UTF8",
    "--locale=C",
    "--no-sync", // throwaway cluster
  ];
  const init = await asPg(initArgs);
  if (init.code !== 0) return fail(describeRun("initdb", initArgs.slice(1), init));
  await rm(pwFile);

  // Throwaway cluster: durability off for speed; small footprint so several can run at once.
  const conf = [
    "",
    "# cairn tests",
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${sockDir}'`,
    "password_encryption = 'scram-sha-256'",
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
    "shared_buffers = 32MB",
    "max_connections = 30",
    "",
  ].join("\n");
  await appendFile(join(dataDir, "postgresql.conf"), conf);

  process.once("exit", onExit);
  let port = 0;
  let lastStart: RunResult | undefined;
  // A free port can be taken between the probe and the bind (parallel test files): retry.
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    port = await freePort();
    const startArgs = [join(binDir, "pg_ctl"), "-D", dataDir, "-l", logPath, "-o", `-p ${port}`, "-w", "-t", "60", "start"];
    lastStart = await asPg(startArgs);
    started = lastStart.code === 0;
  }
  if (!started) return fail(lastStart ? describeRun("pg_ctl start", [], lastStart) : "pg_ctl start did not run");

  const ready = await run(join(binDir, "pg_isready"), ["-h", sockDir, "-p", String(port), "-t", "30"]);
  if (ready.code !== 0) return fail(describeRun("pg_isready", [], ready));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: sockDir,
    PGPORT: String(port),
    PGUSER: POSTGRES_USER,
    PGPASSWORD: POSTGRES_PASSWORD,
    PGDATABASE: "postgres",
    PATH: `${binDir}:${process.env.PATH ?? ""}`,
  };

  const psql = async (db: string, sql: string): Promise<string> => {
    const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", sockDir, "-p", String(port), "-U", POSTGRES_USER, "-d", db, "-f", "-"];
    const r = await run(join(binDir, "psql"), args, { env, input: sql });
    if (r.code !== 0) throw new Error(`psql on ${db} failed (${r.code}): ${r.stderr.trim()}\nSQL: ${sql}`);
    return r.stdout;
  };

  return {
    host: sockDir,
    port,
    user: POSTGRES_USER,
    binDir,
    env,
    url: (db: string) =>
      `postgresql://${POSTGRES_USER}:${encodeURIComponent(POSTGRES_PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(db)}`,
    psql,
    stop,
  };
}

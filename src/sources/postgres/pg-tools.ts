import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { CairnError, InterruptedError } from "../../errors.js";

/** The PostgreSQL client programs cairn runs. */
export type PgTool = "pg_dump" | "pg_dumpall" | "pg_restore" | "psql";

export interface PgToolOptions {
  /** Directory holding the client programs (default: $CAIRN_PG_BIN, else the PATH). */
  binDir?: string;
}

/** How long a program interrupted (SIGINT) has to stop before it is killed. */
const INTERRUPT_GRACE_MS = 5000;

/** How much of a program's stderr is kept for the error message (the end is what matters). */
const STDERR_TAIL = 4096;

export function pgToolPath(tool: PgTool, options: PgToolOptions = {}): string {
  const dir = options.binDir ?? process.env.CAIRN_PG_BIN;
  return dir ? path.join(dir, tool) : tool;
}

/**
 * The caller's environment, so libpq sees PGPASSWORD, PGPASSFILE, PGSSLMODE, … unchanged; only
 * defaults are added: a connect timeout, so an unreachable server fails instead of hanging a
 * nightly job, and an application name that shows up in pg_stat_activity.
 */
function pgToolEnvironment(writes: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? "30", PGAPPNAME: process.env.PGAPPNAME ?? "cairn" };
  // pg_restore takes no script of ours to turn a read-only default off in (see READ_WRITE):
  // a startup option does it, which a connection pooler may refuse.
  if (writes) env.PGOPTIONS = `${process.env.PGOPTIONS ?? ""} -c default_transaction_read_only=off`.trim();
  return env;
}

/** Turns a read-only default (a role's or a database's) off for the session, as pg_dumpall's script does. */
export const READ_WRITE = "SET default_transaction_read_only = off";

/** A running client program whose outcome (exit status and stderr) decides success. */
export class PgProcess {
  private stderrTail = "";
  private readonly outcome: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;

  private constructor(
    readonly tool: PgTool,
    private readonly child: ChildProcess,
    private readonly toolPath: string,
    private readonly secrets: readonly string[],
  ) {
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL);
    });
    this.outcome = new Promise((resolve) => {
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
  }

  /** Starts `tool`; stdin and stdout are pipes when asked for, stderr is always captured. `writes`: a pg_restore of a restore. */
  static start(tool: PgTool, args: readonly string[], options: PgToolOptions & { stdin?: boolean; stdout?: boolean; writes?: boolean } = {}): PgProcess {
    const toolPath = pgToolPath(tool, options);
    const child = spawn(toolPath, args, {
      env: pgToolEnvironment(options.writes ?? false),
      stdio: [options.stdin ? "pipe" : "ignore", options.stdout ? "pipe" : "ignore", "pipe"],
    });
    child.stdin?.on("error", () => {}); // EPIPE when the program stops reading: its exit status tells why
    return new PgProcess(tool, child, toolPath, secretsIn(args));
  }

  get stdin(): Writable {
    return this.child.stdin!;
  }

  get stdout(): Readable {
    return this.child.stdout!;
  }

  /**
   * Stops the program at once (a restore then rolls back: its transaction never commits).
   * Returns whether it was still running.
   */
  kill(): boolean {
    const running = this.child.exitCode === null && this.child.signalCode === null;
    if (running) this.child.kill("SIGKILL");
    // A process it started may still hold its output open: stop reading either way.
    this.child.stdout?.destroy();
    return running;
  }

  /**
   * Asks the program to stop as Ctrl-C would: psql then has the server cancel the statement
   * that runs (a CREATE DATABASE waiting for a lock would otherwise go on without it). Killed
   * if it has not stopped after a few seconds.
   */
  interrupt(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGINT");
    setTimeout(() => this.kill(), INTERRUPT_GRACE_MS).unref();
  }

  /** Waits for the program to end; throws, with the program's own message, unless it exited 0. */
  async finish(): Promise<void> {
    const { code, signal, error } = await this.outcome;
    if (error) {
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      throw new CairnError(
        missing
          ? `${this.toolPath} not found: install the PostgreSQL client programs, or name their directory with --pg-bin or CAIRN_PG_BIN`
          : `cannot run ${this.toolPath}: ${error.message}`,
      );
    }
    if (code !== 0) throw new CairnError(describeFailure(this.tool, code, signal, withoutSecrets(this.stderrTail, this.secrets)));
  }
}

/**
 * The passwords in the connection URIs among a program's arguments, as written and decoded:
 * libpq repeats a URI it cannot parse (or the bad token of one) in its error message.
 */
export function secretsIn(args: readonly string[]): string[] {
  const secrets: string[] = [];
  const add = (raw: string) => {
    if (raw === "") return;
    secrets.push(raw);
    try {
      secrets.push(decodeURIComponent(raw));
    } catch {
      // Not valid percent-encoding: libpq shows it as written.
    }
  };
  for (const arg of args) {
    const userinfo = /postgres(?:ql)?:\/\/([^/?#]*)@/i.exec(arg)?.[1];
    if (userinfo?.includes(":")) add(userinfo.slice(userinfo.indexOf(":") + 1));
    for (const param of arg.matchAll(/[?&](?:ssl)?password=([^&]*)/gi)) add(param[1]!);
  }
  // Longest first, so a password containing another is replaced whole.
  return [...new Set(secrets)].sort((a, b) => b.length - a.length);
}

function withoutSecrets(text: string, secrets: readonly string[]): string {
  return secrets.reduce((scrubbed, secret) => scrubbed.split(secret).join("***"), text);
}

/** "pg_dump exited with code 1: <what it said>", on one line. */
export function describeFailure(tool: PgTool, code: number | null, signal: string | null, stderr: string): string {
  const how = code !== null ? `exited with code ${code}` : `was killed${signal ? ` by ${signal}` : ""}`;
  const said = stderr
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .join("; ");
  return `${tool} ${how}${said ? `: ${said}` : ""}`;
}

/** Runs a client program to completion and returns its stdout. */
export async function runPgTool(tool: PgTool, args: readonly string[], options: PgToolOptions = {}): Promise<string> {
  const proc = PgProcess.start(tool, args, { ...options, stdout: true });
  const chunks: Buffer[] = [];
  proc.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  await proc.finish();
  return Buffer.concat(chunks).toString("utf8");
}

/** The values a query returns, one per row, in UTF-8 whatever the database's encoding. */
export async function psqlValues(uri: string, sql: string, options: PgToolOptions): Promise<string[]> {
  const printed = await runPsql(uri, `SET client_encoding = 'UTF8';\n${sql}\n`, options, ["--record-separator-zero"]);
  return printed.split("\0").filter(Boolean);
}

/**
 * Runs a script of a restore through psql, stopping at its first error; not in a transaction
 * unless asked (CREATE DATABASE refuses one). Returns what it printed. A stop signal
 * interrupts psql, which cancels the statement on the server.
 */
export async function runPsql(uri: string, script: Buffer | string, options: PgToolOptions & { signal?: AbortSignal; singleTransaction?: boolean }, extraArgs: string[] = []): Promise<string> {
  if (options.signal?.aborted) throw new InterruptedError();
  const args = ["--no-psqlrc", "--no-password", "--quiet", "--tuples-only", "--no-align", "--set=ON_ERROR_STOP=1", ...extraArgs, `--dbname=${uri}`];
  // A read-only default (of the role, or the database) must not stop a restore's script, as
  // pg_dumpall's script sees to after each connection; in the script, so poolers that refuse
  // startup options still pass it.
  const writable = options.singleTransaction ? ["--single-transaction", "--command=SET TRANSACTION READ WRITE"] : [`--command=${READ_WRITE}`];
  const proc = PgProcess.start("psql", [...args, ...writable, "--file=-"], { ...options, stdin: true, stdout: true });
  const stop = () => proc.interrupt();
  options.signal?.addEventListener("abort", stop);
  const printed: Buffer[] = [];
  proc.stdout.on("data", (chunk: Buffer) => printed.push(chunk));
  proc.stdin.end(script);
  try {
    await proc.finish();
  } catch (err) {
    if (options.signal?.aborted) throw new InterruptedError();
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", stop);
  }
  return Buffer.concat(printed).toString("utf8");
}

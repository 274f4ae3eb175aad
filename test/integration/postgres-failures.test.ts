// A PostgreSQL backup that fails for any reason writes no snapshot, says why, and exits non-zero.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, tempDir } from "../support/cli.js";
import { startPostgres, type PostgresServer } from "../support/postgres-server.js";
import { createRepo, passwordlessUrl, SAMPLE_SCHEMA, type TestRepo } from "./postgres-fixtures.js";

let pg: PostgresServer;
let repo: TestRepo;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql("postgres", "CREATE DATABASE shop");
  await pg.psql("shop", SAMPLE_SCHEMA);
  // Several MB of dump, so a pg_dump that dies part-way has really written part of it.
  await pg.psql("shop", "CREATE TABLE events (id int, payload text); INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 100000) g");
  repo = await createRepo(pg);
});

afterAll(async () => {
  await repo?.cleanup();
  await pg?.stop();
});

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a backup that must fail; checks that nothing was written and returns the message. */
async function failedBackup(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await repo.cairn(["backup", ...args], env);
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stdout).not.toMatch(/snapshot .* saved/);
  expect(result.stderr).toMatch(/^cairn: backup of postgresql:\/\/cairn@127\.0\.0\.1:\d+\/\w* failed: .*; no snapshot was written$/m);
  expect(await repo.snapshots()).toEqual([]);
  return result.stderr;
}

describe("failed PostgreSQL backups leave no snapshot", () => {
  it("a wrong password", async () => {
    const stderr = await failedBackup([`postgresql://cairn:wrong-secret@127.0.0.1:${pg.port}/shop`], { PGPASSWORD: "" });
    expect(stderr).toMatch(/password authentication failed for user "cairn"/);
    expect(stderr).not.toContain("wrong-secret");
  });

  it("a URI libpq cannot read: its message repeats the URI, never the password", async () => {
    for (const uri of [`postgresql://cairn:Sup3rS3cretPW@[::1:${pg.port}/shop`, `postgresql://cairn:Sup3r%ZZsecret@127.0.0.1:${pg.port}/shop`]) {
      const result = await repo.cairn(["backup", uri], { PGPASSWORD: "" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^cairn: backup of .* failed: /m);
      expect(result.stderr).not.toMatch(/Sup3r/);
      expect(await repo.snapshots()).toEqual([]);
    }
  });

  it("no password at all: never waits for one to be typed", async () => {
    const stderr = await failedBackup([passwordlessUrl(pg, "shop")], { PGPASSWORD: "" });
    expect(stderr).toMatch(/no password supplied/);
  });

  it("an unknown database", async () => {
    const stderr = await failedBackup([passwordlessUrl(pg, "nosuchdb")]);
    expect(stderr).toMatch(/database "nosuchdb" does not exist/);
  });

  it("a server that is not running", async () => {
    const stderr = await failedBackup([`postgresql://cairn@127.0.0.1:${await closedPort()}/shop`]);
    expect(stderr).toMatch(/Connection refused/);
  });

  it("client programs that are not installed", async () => {
    const result = await repo.cairn(["backup", passwordlessUrl(pg, "shop"), "--pg-bin", "/nonexistent/bin"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\/nonexistent\/bin\/pg_dump not found: install the PostgreSQL client programs, or name their directory with --pg-bin or CAIRN_PG_BIN/);
    expect(await repo.snapshots()).toEqual([]);
  });

  it("pg_dump killed half-way through the dump", async () => {
    const dir = await tempDir();
    try {
      // A pg_dump that streams the first 300 kB of a real dump, then dies like an OOM-killed one.
      const bin = join(dir.path, "bin");
      await mkdir(bin);
      for (const tool of ["psql", "pg_dumpall", "pg_restore"]) await symlink(join(pg.binDir, tool), join(bin, tool));
      await writeFile(
        join(bin, "pg_dump"),
        `#!/bin/sh\nif [ "$1" = "--version" ]; then exec "${pg.binDir}/pg_dump" --version; fi\n"${pg.binDir}/pg_dump" "$@" | head -c 300000\nkill -KILL $$\n`,
      );
      await chmod(join(bin, "pg_dump"), 0o755);
      const stderr = await failedBackup([passwordlessUrl(pg, "shop"), "--pg-bin", bin]);
      expect(stderr).toMatch(/pg_dump was killed by SIGKILL; no snapshot was written/);
    } finally {
      await dir.cleanup();
    }
  });

  it("pg_restore failing at once while pg_dump still writes the database's definition", async () => {
    const dir = await tempDir();
    try {
      // pg_restore stops without reading; pg_dump's definition archive is padded past what a pipe holds.
      const bin = join(dir.path, "bin");
      await mkdir(bin);
      for (const tool of ["psql", "pg_dumpall"]) await symlink(join(pg.binDir, tool), join(bin, tool));
      await writeFile(
        join(bin, "pg_dump"),
        `#!/bin/sh\ncase "$*" in *--create*) "${pg.binDir}/pg_dump" "$@"; head -c 4194304 /dev/zero;; *) exec "${pg.binDir}/pg_dump" "$@";; esac\n`,
      );
      await writeFile(join(bin, "pg_restore"), `#!/bin/sh\necho 'pg_restore: error: out of memory' >&2\nexit 1\n`);
      for (const tool of ["pg_dump", "pg_restore"]) await chmod(join(bin, tool), 0o755);
      const stderr = await failedBackup([passwordlessUrl(pg, "shop"), "--pg-bin", bin]);
      expect(stderr).toMatch(/failed: \/postgres\/[^ ]+\/create-database\/shop\.sql: pg_restore exited with code 1: pg_restore: error: out of memory; no snapshot was written/);
    } finally {
      await dir.cleanup();
    }
  });

  it("pg_dump exiting non-zero after a complete-looking dump", async () => {
    const dir = await tempDir();
    try {
      const bin = join(dir.path, "bin");
      await mkdir(bin);
      await symlink(join(pg.binDir, "psql"), join(bin, "psql"));
      await writeFile(
        join(bin, "pg_dump"),
        `#!/bin/sh\nif [ "$1" = "--version" ]; then exec "${pg.binDir}/pg_dump" --version; fi\n"${pg.binDir}/pg_dump" "$@"\necho 'pg_dump: error: could not write to output file: No space left on device' >&2\nexit 1\n`,
      );
      await chmod(join(bin, "pg_dump"), 0o755);
      const stderr = await failedBackup([passwordlessUrl(pg, "shop"), "--pg-bin", bin]);
      expect(stderr).toMatch(/pg_dump exited with code 1: pg_dump: error: could not write to output file: No space left on device; no snapshot was written/);
    } finally {
      await dir.cleanup();
    }
  });

  it("interrupted (SIGTERM) while pg_dump runs", async () => {
    const dir = await tempDir();
    try {
      // A pg_dump that streams part of a dump, says so, then hangs.
      const bin = join(dir.path, "bin");
      const started = join(dir.path, "started");
      await mkdir(bin);
      await symlink(join(pg.binDir, "psql"), join(bin, "psql"));
      await writeFile(
        join(bin, "pg_dump"),
        `#!/bin/sh\nif [ "$1" = "--version" ]; then exec "${pg.binDir}/pg_dump" --version; fi\n"${pg.binDir}/pg_dump" "$@" | head -c 300000\ntouch "${started}"\nexec sleep 600\n`,
      );
      await chmod(join(bin, "pg_dump"), 0o755);
      const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo.path, "backup", passwordlessUrl(pg, "shop"), "--pg-bin", bin], {
        env: { ...process.env, PGPASSWORD: pg.env.PGPASSWORD },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      while (!existsSync(started)) await new Promise((r) => setTimeout(r, 50));
      child.kill("SIGTERM");
      expect(await exited, stderr).toBe(130);
      expect(stderr).toMatch(/^cairn: interrupted$/m);
      expect(await repo.snapshots()).toEqual([]);
    } finally {
      await dir.cleanup();
    }
  });

  it("and the next backup after the failures succeeds", async () => {
    const result = await repo.cairn(["backup", passwordlessUrl(pg, "shop")]);
    expect(result.code, result.stderr).toBe(0);
    expect(await repo.snapshots()).toHaveLength(1);
  });
});

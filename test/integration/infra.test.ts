// Proves the integration-test infrastructure: a real Docker engine with a registry-free image,
// and a real PostgreSQL server with password auth over TCP and the unix socket.
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import Docker from "dockerode";
import tar from "tar-stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { buildTestImage, dockerCall, startDockerEngine, type DockerEngine } from "../support/docker-engine.js";
import { POSTGRES_PASSWORD, startPostgres, type PostgresServer } from "../support/postgres-server.js";

/** Names of the entries in a tar stream. */
async function tarEntries(data: Buffer): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      names.push(header.name.replace(/^\.\//, ""));
      stream.on("end", next);
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    Readable.from([data]).pipe(extract);
  });
  return names;
}

function runCmd(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("docker engine", () => {
  let engine: DockerEngine | undefined;

  beforeAll(async () => {
    engine = await startDockerEngine();
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it("builds an image without a registry, runs and exports a container", async () => {
    const e = engine!;
    const imageId = await buildTestImage(e, "cairn-infra-test", { "/etc/cairn/hello.txt": "hello\n" });
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);

    const created = JSON.parse(
      (
        await dockerCall(e, "POST", "/containers/create?name=cairn-infra", {
          Image: imageId,
          HostConfig: { NetworkMode: "none" },
        })
      ).toString(),
    ) as { Id: string };
    await dockerCall(e, "POST", `/containers/${created.Id}/start`);

    const inspect = JSON.parse((await dockerCall(e, "GET", `/containers/${created.Id}/json`)).toString()) as {
      State: { Running: boolean };
      Config: { Cmd: string[] };
    };
    expect(inspect.State.Running).toBe(true);
    expect(inspect.Config.Cmd).toEqual(["/bin/sleep", "3600"]);

    const names = await tarEntries(await dockerCall(e, "GET", `/containers/${created.Id}/export`));
    expect(names).toContain("bin/busybox");
    expect(names).toContain("etc/cairn/hello.txt");

    // dockerode (what src/sources/docker uses) talks to the same engine.
    const docker = new Docker({ socketPath: e.socketPath });
    const containers = await docker.listContainers();
    expect(containers.map((c) => c.Id)).toContain(created.Id);

    await dockerCall(e, "DELETE", `/containers/${created.Id}?force=1`);
  });
});

describe("postgres server", () => {
  let pg: PostgresServer | undefined;

  beforeAll(async () => {
    pg = await startPostgres();
  });

  afterAll(async () => {
    await pg?.stop();
  });

  it("stores rows and reads them back with password auth over TCP and the socket", async () => {
    const s = pg!;
    await s.psql("postgres", "CREATE DATABASE infra;");
    await s.psql(
      "infra",
      "CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');",
    );

    const psql = `${s.binDir}/psql`;
    const query = ["-X", "-A", "-t", "-c", "SELECT id, name FROM t ORDER BY id"];
    const expected = "1|one\n2|two\n3|three\n";

    const tcp = await runCmd(psql, [s.url("infra"), ...query], s.env);
    expect(tcp.err).toBe("");
    expect(tcp.out).toBe(expected);

    const sock = await runCmd(psql, ["-h", s.host, "-p", String(s.port), "-U", s.user, "-d", "infra", ...query], s.env);
    expect(sock.err).toBe("");
    expect(sock.out).toBe(expected);

    // The password is really checked, on both transports.
    const wrongEnv = { ...s.env, PGPASSWORD: POSTGRES_PASSWORD + "x" };
    const badTcp = await runCmd(psql, ["-h", "127.0.0.1", "-p", String(s.port), "-U", s.user, "-d", "infra", ...query], wrongEnv);
    expect(badTcp.code).not.toBe(0);
    expect(badTcp.err).toMatch(/password authentication failed/);
    const badSock = await runCmd(psql, ["-d", "infra", ...query], wrongEnv);
    expect(badSock.code).not.toBe(0);
    expect(badSock.err).toMatch(/password authentication failed/);
  });
});

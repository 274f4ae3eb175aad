// A real Docker engine for integration tests, with no registry access.
//
// Either the engine DOCKER_HOST already points at, or a private Debian `dockerd` (root only) on a
// unix socket in a fresh temp dir, with its own containerd, data root and exec root, so several
// test files can each run one at the same time. Never skips: if no engine can be had, it throws.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";

export interface DockerEngine {
  /** Unix socket of the engine; "" when DOCKER_HOST is a tcp:// address. */
  socketPath: string;
  /** Value for DOCKER_HOST (unix:///… or tcp://…), for the CLI, dockerode or cairn. */
  dockerHost: string;
  /** Stops a private engine and removes its files; does nothing for an external engine. */
  stop(): Promise<void>;
}

/** Commands linked to /bin/busybox in test images. */
const BUSYBOX_APPLETS = [
  "sh", "ash", "ls", "cat", "sleep", "echo", "true", "false", "mkdir", "rm", "cp", "mv", "ln",
  "touch", "chmod", "chown", "find", "grep", "head", "tail", "wc", "sha256sum", "tar", "env",
  "id", "ps", "kill", "date", "dd", "stat", "sync", "test", "[",
];

const START_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Engine API over HTTP (unix socket or tcp)

interface Endpoint {
  socketPath?: string;
  host?: string;
  port?: number;
}

function endpointOf(dockerHost: string): Endpoint {
  if (dockerHost.startsWith("unix://")) return { socketPath: dockerHost.slice("unix://".length) };
  if (dockerHost.startsWith("tcp://") || dockerHost.startsWith("http://")) {
    const u = new URL(dockerHost.replace(/^tcp:/, "http:"));
    return { host: u.hostname, port: Number(u.port || 2375) };
  }
  throw new Error(`unsupported DOCKER_HOST ${JSON.stringify(dockerHost)} (want unix:// or tcp://)`);
}

export interface DockerResponse {
  status: number;
  body: Buffer;
}

/**
 * One Engine API request. `body` may be a JSON value, a Buffer or a stream (sent as a tar).
 * Resolves with the status and the whole body; throws only on transport errors, so callers
 * decide which statuses are fine.
 */
export function dockerRequest(
  engine: Pick<DockerEngine, "dockerHost">,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<DockerResponse> {
  const ep = endpointOf(engine.dockerHost);
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string> = {};
    let payload: Buffer | undefined;
    let stream: Readable | undefined;
    if (Buffer.isBuffer(body)) {
      payload = body;
      headers["Content-Type"] = "application/x-tar";
    } else if (body !== undefined && isReadable(body)) {
      stream = body;
      headers["Content-Type"] = "application/x-tar";
      headers["Transfer-Encoding"] = "chunked";
    } else if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      headers["Content-Type"] = "application/json";
    }
    if (payload) headers["Content-Length"] = String(payload.length);
    const req = http.request(
      { ...ep, method, path, headers, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`docker ${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    if (stream) {
      stream.on("error", (e) => req.destroy(e));
      stream.pipe(req);
    } else {
      req.end(payload);
    }
  });
}

/** Like dockerRequest, but throws unless the status is 2xx; returns the body. */
export async function dockerCall(
  engine: Pick<DockerEngine, "dockerHost">,
  method: string,
  path: string,
  body?: unknown,
): Promise<Buffer> {
  const res = await dockerRequest(engine, method, path, body);
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`docker ${method} ${path}: HTTP ${res.status}: ${res.body.toString().trim()}`);
  }
  return res.body;
}

function isReadable(v: unknown): v is Readable {
  return typeof v === "object" && v !== null && typeof (v as Readable).pipe === "function";
}

async function ping(dockerHost: string, timeoutMs = 2_000): Promise<string | undefined> {
  try {
    const res = await dockerRequest({ dockerHost }, "GET", "/_ping", undefined, timeoutMs);
    return res.status === 200 && res.body.toString() === "OK" ? undefined : `HTTP ${res.status} ${res.body.toString()}`;
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------------------------
// Private dockerd

function findBinary(name: string, candidates: string[]): string | undefined {
  for (const c of candidates) if (existsSync(c)) return c;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

async function readLog(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return "(no log)";
  }
}

/** Processes whose command line mentions `marker` (our unique temp dir): containerd and shims. */
function pidsMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (cmdline.includes(marker)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is gone for our purposes.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Unmounts everything under `dir`, deepest first (dockerd bind-mounts its data root, netns files). */
function unmountUnder(dir: string): void {
  let mounts: string[];
  try {
    mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((p) => p === dir || p.startsWith(dir + "/"));
  } catch {
    return;
  }
  for (const m of [...new Set(mounts)].sort((a, b) => b.length - a.length)) {
    spawnSync("umount", ["-l", m], { stdio: "ignore" });
  }
}

/**
 * Short temp base: the exec root holds unix sockets (containerd.sock.ttrpc, libnetwork/<id>.sock)
 * and sun_path is limited to 108 bytes, so a long TMPDIR would break dockerd in odd ways.
 */
function shortTmpBase(): string {
  const t = tmpdir();
  return t.length <= 24 ? t : "/tmp";
}

export async function startDockerEngine(): Promise<DockerEngine> {
  const fromEnv = process.env.DOCKER_HOST;
  let envProblem = "";
  if (fromEnv) {
    const problem = await ping(fromEnv);
    if (problem === undefined) {
      const ep = endpointOf(fromEnv);
      return { socketPath: ep.socketPath ?? "", dockerHost: fromEnv, stop: async () => {} };
    }
    envProblem = ` (DOCKER_HOST=${fromEnv} did not answer /_ping: ${problem})`;
  }

  if (process.getuid?.() !== 0) {
    throw new Error(
      `cannot start a Docker engine for tests: not root, and no working DOCKER_HOST${envProblem}. ` +
        "Run the tests as root or point DOCKER_HOST at a running engine.",
    );
  }
  const dockerd = findBinary("dockerd", ["/usr/sbin/dockerd", "/usr/bin/dockerd"]);
  if (!dockerd) {
    throw new Error(`cannot start a Docker engine for tests: dockerd not found${envProblem}; run scripts/install-test-deps.sh`);
  }

  const dir = await mkdtemp(join(shortTmpBase(), "cdk-"));
  const socketPath = join(dir, "docker.sock");
  const dockerHost = `unix://${socketPath}`;
  const logPath = join(dir, "dockerd.log");
  const args = [
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    "-H", dockerHost,
    "--data-root", join(dir, "data"),
    "--exec-root", join(dir, "exec"),
    "--pidfile", join(dir, "docker.pid"),
    // Own containerd namespace: if a system containerd is running, dockerd uses it instead of
    // starting a private one, and engines must not see each other's containers there.
    "--containerd-namespace", `cairn-${randomBytes(4).toString("hex")}`,
    "--containerd-plugins-namespace", `cairn-plugins-${randomBytes(4).toString("hex")}`,
    // Test containers (sleep as PID 1 ignores SIGTERM) should not hold up shutdown for 15 s.
    "--shutdown-timeout", "2",
  ];

  // tini -s is a subreaper: containerd shims double-fork away from dockerd, and without it they
  // become zombies of PID 1, which in some sandboxes never reaps them.
  const tini = findBinary("tini", ["/usr/bin/tini", "/usr/bin/tini-static"]);
  const [cmd, cmdArgs] = tini ? [tini, ["-s", "--", dockerd, ...args]] : [dockerd, args];

  const logFd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, cmdArgs, { stdio: ["ignore", logFd, logFd], detached: true, cwd: dir });
  } finally {
    closeSync(logFd);
  }
  let exited: string | undefined;
  const exitedPromise = new Promise<void>((r) => {
    child.once("exit", (code, signal) => {
      exited = `dockerd exited (code ${code}, signal ${signal})`;
      r();
    });
    child.once("error", (e) => {
      exited = `could not spawn ${cmd}: ${e.message}`;
      r();
    });
  });

  // If the test process dies without stop(), do not leave a daemon behind.
  const onExit = (): void => {
    if (child.pid !== undefined && exited === undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    killAll(pidsMentioning(dir), "SIGKILL");
  };
  process.once("exit", onExit);

  let stopped = false;
  let bridges: string[] = [];
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Remove containers first with SIGKILL: shutdown is then quick and no shim outlives dockerd.
    // Then the networks the tests made: dockerd leaves their bridge interfaces on the host when it
    // stops, and once those cover Docker's default address pools no engine can make a network.
    if (exited === undefined) {
      try {
        const list = JSON.parse(
          (await dockerCall({ dockerHost }, "GET", "/containers/json?all=1")).toString(),
        ) as { Id: string }[];
        await Promise.all(
          list.map((c) => dockerRequest({ dockerHost }, "DELETE", `/containers/${c.Id}?force=1&v=1`)),
        );
        const networks = JSON.parse((await dockerCall({ dockerHost }, "GET", "/networks")).toString()) as { Id: string; Name: string; Driver: string }[];
        const ours = networks.filter((n) => n.Driver === "bridge" && n.Name !== "bridge");
        bridges = ours.map((n) => `br-${n.Id.slice(0, 12)}`);
        await Promise.all(ours.map((n) => dockerRequest({ dockerHost }, "DELETE", `/networks/${n.Id}`)));
      } catch {
        // engine already unhealthy: the signals below still clean up
      }
    }
    if (exited === undefined && child.pid !== undefined) {
      // tini forwards SIGTERM to dockerd, which stops its containerd.
      child.kill("SIGTERM");
      const t = setTimeout(() => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }, 15_000);
      await exitedPromise;
      clearTimeout(t);
    }
    // Anything of ours still running (containerd, shims after a SIGKILL) goes too.
    const leftovers = pidsMentioning(dir).filter(alive);
    killAll(leftovers, "SIGTERM");
    for (let i = 0; i < 20 && leftovers.some(alive); i++) await sleep(100);
    killAll(leftovers.filter(alive), "SIGKILL");
    process.removeListener("exit", onExit);
    // Whatever bridge the engine did not get to remove.
    for (const bridge of bridges) if (existsSync(`/sys/class/net/${bridge}`)) spawnSync("ip", ["link", "delete", bridge], { stdio: "ignore" });
    unmountUnder(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  const started = Date.now();
  let lastProblem = "";
  while (Date.now() - started < START_TIMEOUT_MS) {
    if (exited !== undefined) break;
    const problem = await ping(dockerHost, 1_000);
    if (problem === undefined) {
      return { socketPath, dockerHost, stop };
    }
    lastProblem = problem;
    await sleep(200);
  }
  const why = exited ?? `no answer on ${socketPath} after ${START_TIMEOUT_MS} ms (last: ${lastProblem})`;
  const log = tail(await readLog(logPath));
  await stop();
  throw new Error(
    `cannot start a Docker engine for tests: ${why}${envProblem}\n` +
      `command: ${cmd} ${cmdArgs.join(" ")}\n--- dockerd log (tail) ---\n${log}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Test images without a registry

function runTar(rootfs: string): Readable {
  // Numeric root ownership so the image does not depend on who built it.
  const p = spawn("tar", ["-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  p.stderr.on("data", (c: Buffer) => (err += c.toString()));
  p.on("exit", (code) => {
    if (code !== 0) p.stdout.destroy(new Error(`tar of ${rootfs} failed (${code}): ${err}`));
  });
  return p.stdout;
}

/**
 * Builds a tiny image: static busybox at /bin/busybox with applet symlinks, plus `files`
 * (path inside the image -> content). Imported from a tar, so no registry is needed. The
 * image is tagged `name` (":latest" unless a tag is given), runs /bin/sleep 3600 by default,
 * and its id ("sha256:…") is returned.
 */
export async function buildTestImage(
  engine: Pick<DockerEngine, "dockerHost">,
  name: string,
  files: Record<string, string> = {},
): Promise<string> {
  const busybox = "/bin/busybox";
  const ldd = spawnSync("ldd", [busybox], { encoding: "utf8" });
  if (!existsSync(busybox) || ldd.status === 0) {
    throw new Error(
      `buildTestImage: ${busybox} is missing or not statically linked (install busybox-static; run scripts/install-test-deps.sh)`,
    );
  }

  const work = await mkdtemp(join(tmpdir(), "cairn-img-"));
  try {
    const root = join(work, "rootfs");
    for (const d of ["bin", "etc", "tmp", "root", "var", "proc", "sys", "dev"]) {
      await mkdir(join(root, d), { recursive: true });
    }
    await chmod(join(root, "tmp"), 0o1777);
    await copyFile(busybox, join(root, "bin/busybox"));
    await chmod(join(root, "bin/busybox"), 0o755);
    for (const applet of BUSYBOX_APPLETS) await symlink("busybox", join(root, "bin", applet));
    await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await writeFile(join(root, "etc/group"), "root:x:0:\n");
    for (const [path, content] of Object.entries(files)) {
      const target = resolve(root, "." + (path.startsWith("/") ? path : "/" + path));
      if (!target.startsWith(root + "/")) throw new Error(`buildTestImage: bad file path ${path}`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }

    const [repo, tag] = splitName(name);
    const changes = encodeURIComponent('CMD ["/bin/sleep","3600"]');
    const res = await dockerRequest(
      engine,
      "POST",
      `/images/create?fromSrc=-&repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}&changes=${changes}`,
      runTar(root),
    );
    // The import answers 200 with a JSON stream; failures show up as {"error": …} in it.
    const text = res.body.toString();
    if (res.status !== 200 || /"error"/.test(text)) {
      throw new Error(`buildTestImage: import of ${name} failed: HTTP ${res.status}: ${text.trim()}`);
    }
    const inspect = JSON.parse((await dockerCall(engine, "GET", `/images/${encodeURIComponent(`${repo}:${tag}`)}/json`)).toString()) as {
      Id: string;
    };
    return inspect.Id;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function splitName(name: string): [string, string] {
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return colon > slash ? [name.slice(0, colon), name.slice(colon + 1)] : [name, "latest"];
}

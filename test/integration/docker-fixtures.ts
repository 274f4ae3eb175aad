// Shared by the Docker integration tests: engine calls the tests make themselves (to set up
// containers and to look at what cairn put back), and listings of file systems to compare.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import net from "node:net";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { dockerCall, dockerRequest, type DockerEngine } from "../support/docker-engine.js";

export async function api<T>(engine: DockerEngine, method: string, path: string, body?: unknown): Promise<T> {
  const text = (await dockerCall(engine, method, path, body)).toString();
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface Inspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Running: boolean; Paused: boolean; Status: string };
  Config: Record<string, unknown> & { Image: string; Env: string[]; Cmd: string[]; Labels: Record<string, string> };
  HostConfig: Record<string, unknown>;
  Mounts: { Type: string; Name?: string; Destination: string; RW: boolean }[];
}

export const inspectContainer = (engine: DockerEngine, name: string) => api<Inspect>(engine, "GET", `/containers/${name}/json`);

export async function createContainer(engine: DockerEngine, name: string, body: Record<string, unknown>): Promise<string> {
  const hostConfig = { NetworkMode: "none", ...((body.HostConfig as object | undefined) ?? {}) };
  return (await api<{ Id: string }>(engine, "POST", `/containers/create?name=${name}`, { ...body, HostConfig: hostConfig })).Id;
}

/** Runs a command in a running container and waits for it; returns its exit code. */
export async function exec(engine: DockerEngine, container: string, cmd: string[]): Promise<number> {
  const { Id } = await api<{ Id: string }>(engine, "POST", `/containers/${container}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  await dockerCall(engine, "POST", `/exec/${Id}/start`, { Detach: false, Tty: false });
  return (await api<{ ExitCode: number }>(engine, "GET", `/exec/${Id}/json`)).ExitCode;
}

export interface TarFile {
  name: string;
  type?: "file" | "directory" | "symlink";
  mode: number;
  uid?: number;
  gid?: number;
  content?: string;
  linkname?: string;
}

/** A tar of the given entries (owners and modes as given; fixed mtime). */
export async function tarOf(files: TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  for (const f of files) {
    const header = { name: f.name, type: f.type ?? "file", mode: f.mode, uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: new Date("2024-05-01T12:00:00Z"), ...(f.linkname ? { linkname: f.linkname } : {}) };
    if (f.type === undefined || f.type === "file") pack.entry(header, f.content ?? "");
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function putFiles(engine: DockerEngine, container: string, files: TarFile[]): Promise<void> {
  await dockerCall(engine, "PUT", `/containers/${container}/archive?path=/`, await tarOf(files));
}

export interface ListedEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkname?: string;
  mtime?: number;
}

/**
 * What a user compares: every entry's type, mode, owner, size, content hash and link target,
 * plus the mtime of files with content (the empty files and directories the engine sets up
 * for a container, /etc/hosts and the like, get fresh times on every create).
 */
export async function listTar(data: Buffer, strip = ""): Promise<Map<string, ListedEntry>> {
  const entries = new Map<string, ListedEntry>();
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const hash = createHash("sha256");
      stream.on("data", (c) => hash.update(c as Buffer));
      stream.on("end", () => {
        const name = header.name.replace(/^\.\//, "").replace(/\/$/, "");
        const path = strip && name.startsWith(strip) ? name.slice(strip.length) : name;
        const entry: ListedEntry = { type: header.type ?? "file", mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0, size: header.size ?? 0 };
        if (header.type === "file") entry.sha256 = hash.digest("hex");
        if (header.linkname) entry.linkname = header.linkname;
        if (header.type === "file" && (header.size ?? 0) > 0) entry.mtime = header.mtime?.getTime();
        entries.set(path, entry);
        next();
      });
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    Readable.from([data]).pipe(extract);
  });
  return entries;
}

export async function exportListing(engine: DockerEngine, container: string): Promise<Map<string, ListedEntry>> {
  return listTar(await dockerCall(engine, "GET", `/containers/${container}/export`));
}

/** The files of a volume, read through a container that mounts it (created from `image`, never started). */
export async function volumeListing(engine: DockerEngine, volume: string, image: string): Promise<Map<string, ListedEntry>> {
  const id = await createContainer(engine, `look-${volume}-${Date.now()}`, { Image: image, HostConfig: { Binds: [`${volume}:/mnt/v:ro`] } });
  try {
    return await listTar(await dockerCall(engine, "GET", `/containers/${id}/archive?path=/mnt/v`));
  } finally {
    await dockerRequest(engine, "DELETE", `/containers/${id}?force=1`);
  }
}

/** Runs `cmd` in a new container of `image` and returns what it printed. */
export async function runImage(engine: DockerEngine, image: string, cmd: string[]): Promise<string> {
  const id = await createContainer(engine, `run-${Date.now()}`, { Image: image, Cmd: cmd });
  try {
    await dockerCall(engine, "POST", `/containers/${id}/start`);
    await dockerCall(engine, "POST", `/containers/${id}/wait`);
    // Non-TTY logs come in frames with an 8-byte header; the text is all we want.
    const logs = await dockerCall(engine, "GET", `/containers/${id}/logs?stdout=1&stderr=1`);
    let out = "";
    for (let i = 0; i + 8 <= logs.length; ) {
      const size = logs.readUInt32BE(i + 4);
      out += logs.subarray(i + 8, i + 8 + size).toString();
      i += 8 + size;
    }
    return out;
  } finally {
    await dockerRequest(engine, "DELETE", `/containers/${id}?force=1`);
  }
}

export async function remove(engine: DockerEngine, kind: "containers" | "volumes" | "images" | "networks", name: string): Promise<void> {
  await dockerCall(engine, "DELETE", `/${kind}/${name}${kind === "containers" || kind === "images" ? "?force=1" : ""}`);
}

/**
 * A unix socket in front of the engine that "dies" once `bytes` bytes of a response to a
 * request matching `request` (e.g. /\/export/) have passed: every connection is cut and the
 * socket goes away, as when dockerd is killed mid-stream. Returns the socket's DOCKER_HOST.
 */
export async function dyingEngine(engine: DockerEngine, socketPath: string, request: RegExp, bytes: number): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(engine.socketPath);
    sockets.add(client).add(upstream);
    let watched = false;
    let passed = 0;
    client.on("data", (d: Buffer) => {
      if (request.test(d.toString("latin1").split("\r\n")[0] ?? "")) watched = true;
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      passed += watched ? d.length : 0;
      if (passed > bytes) die();
      else client.write(d);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
    }
  });
  const die = () => {
    server.close();
    for (const s of sockets) s.destroy();
    rmSync(socketPath, { force: true });
  };
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return `unix://${socketPath}`;
}

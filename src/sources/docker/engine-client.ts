import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { CairnError, NotFoundError } from "../../errors.js";
import { changeList } from "./change-list.js";

export type ContainerInspect = Docker.ContainerInspectInfo;
export type ImageInspect = Docker.ImageInspectInfo;
export type VolumeInspect = Docker.VolumeInspectInfo;
export type ContainerCreateOptions = Docker.ContainerCreateOptions;
export type NetworkInspect = Docker.NetworkInspectInfo;
export type NetworkCreateOptions = Docker.NetworkCreateOptions;
export type EndpointSettings = Docker.EndpointSettings;

/** One entry of GET /containers/{id}/changes: 0 modified, 1 added, 2 deleted. */
export interface FilesystemChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** The engine refused or failed an operation on one object (the engine itself answered). */
export class EngineError extends CairnError {}

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "EPERM", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ENOTFOUND", "EPIPE"]);

/** Where the engine is, the way dockerode finds it: DOCKER_HOST, else the user's or the system socket. */
export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host && host.startsWith("unix://") && host.length > "unix://".length) return host.slice("unix://".length);
  if (host && !host.startsWith("unix://")) return host;
  const user = path.join(os.homedir(), ".docker", "run", "docker.sock");
  return existsSync(user) ? user : "/var/run/docker.sock";
}

interface DockerodeError {
  statusCode?: number;
  json?: { message?: string } | string | null;
  reason?: string;
  code?: string;
  message: string;
}

/** Reads a JSON-lines progress stream (load, import) and fails on the first {"error": …}. */
async function progressMessages(stream: NodeJS.ReadableStream): Promise<string[]> {
  let text = "";
  for await (const chunk of stream as AsyncIterable<Buffer | string>) text += chunk.toString();
  const messages: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    let record: { error?: string; errorDetail?: { message?: string }; stream?: string; status?: string };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      messages.push(line);
      continue;
    }
    if (record.error) throw new EngineError(`docker: ${record.errorDetail?.message ?? record.error}`);
    const message = record.stream ?? record.status;
    if (message) messages.push(message.trim());
  }
  return messages;
}

/**
 * The Docker Engine API as cairn uses it, through dockerode: every failure becomes a one-line
 * CairnError, a missing object a NotFoundError, and an unreachable engine names its socket.
 */
export class EngineClient {
  private constructor(
    private readonly docker: Docker,
    /** The socket path or URL, for messages. */
    readonly endpoint: string,
    /** True when the engine is reached through a unix socket, i.e. it runs on this machine. */
    readonly isLocal: boolean,
  ) {}

  /** A client for the engine `env` names; makes no request yet. */
  static async connect(env: NodeJS.ProcessEnv = process.env): Promise<EngineClient> {
    const endpoint = engineEndpoint(env);
    const isLocal = endpoint.startsWith("/");
    // Loaded on first use: dockerode and its dependencies take a noticeable time to import,
    // which every other cairn command would pay for.
    const { default: Dockerode } = await import("dockerode");
    try {
      return new EngineClient(isLocal ? new Dockerode({ socketPath: endpoint }) : new Dockerode(), endpoint, isLocal);
    } catch (err) {
      throw new CairnError(`cannot use the Docker engine at ${endpoint}: ${(err as Error).message}`);
    }
  }

  private failure(err: unknown, what: string, notFound?: string): Error {
    if (err instanceof CairnError) return err;
    const e = err as DockerodeError;
    if (e.statusCode === undefined && e.code && UNREACHABLE.has(e.code)) {
      return new CairnError(`cannot reach the Docker engine at ${this.endpoint}: ${e.code === "ENOENT" ? "no such socket" : e.code}`);
    }
    if (e.statusCode === 404 && notFound) return new NotFoundError(notFound);
    const detail = typeof e.json === "object" && e.json?.message ? e.json.message : typeof e.json === "string" && e.json ? e.json : (e.reason ?? e.message);
    return new EngineError(`docker: ${what}: ${String(detail).trim()}`);
  }

  private async call<T>(what: string, fn: () => Promise<T>, notFound?: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.failure(err, what, notFound);
    }
  }

  /** Sends a stream as a request body; a failure of the stream itself (not the engine) is rethrown as is. */
  private async upload<T>(what: string, body: Readable, fn: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let sourceError: unknown;
    body.once("error", (err) => {
      sourceError = err;
      controller.abort();
    });
    try {
      return await fn(body, controller.signal);
    } catch (err) {
      throw sourceError ?? this.failure(err, what);
    } finally {
      body.destroy();
    }
  }

  /**
   * What a stream from the engine breaking off with `err` means: the engine is gone (it does
   * not answer a ping: the backup cannot go on), or it stopped sending this one object.
   */
  async brokenStream(what: string, err: Error): Promise<CairnError> {
    const down = await this.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (down instanceof CairnError && !(down instanceof EngineError)) return down;
    return new EngineError(`docker: ${what}: the engine stopped sending (${err.message})`);
  }

  ping(): Promise<unknown> {
    return this.call("ping", () => this.docker.ping());
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const v = await this.call("version", () => this.docker.version());
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  // ---- images -------------------------------------------------------------------------------

  inspectImage(ref: string): Promise<ImageInspect> {
    return this.call(`inspect image ${ref}`, () => this.docker.getImage(ref).inspect(), `no such image: ${ref}`);
  }

  /** The image, or undefined when the engine does not have it. */
  async findImage(ref: string): Promise<ImageInspect | undefined> {
    try {
      return await this.inspectImage(ref);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** GET /images/{name}/get: the image in `docker save` format. */
  async saveImage(ref: string): Promise<Readable> {
    return (await this.call(`save image ${ref}`, () => this.docker.getImage(ref).get(), `no such image: ${ref}`)) as Readable;
  }

  /** POST /images/load; returns the engine's messages ("Loaded image: …"). */
  loadImage(tar: Readable): Promise<string[]> {
    return this.upload("load image", tar, async (body, abortSignal) => progressMessages(await this.docker.loadImage(body, { quiet: true, abortSignal })));
  }

  tagImage(id: string, repo: string, tag: string): Promise<unknown> {
    return this.call(`tag image ${repo}:${tag}`, () => this.docker.getImage(id).tag({ repo, tag }));
  }

  removeImage(ref: string): Promise<unknown> {
    return this.call(`remove image ${ref}`, () => this.docker.getImage(ref).remove({ noprune: false }));
  }

  /** POST /images/create?fromSrc=-: a single-layer image from a file system tar; returns its id. */
  async importImage(tar: Readable, repo?: string, tag?: string): Promise<string> {
    const options = repo ? { repo, tag } : {};
    const messages = await this.upload("import image", tar, async (body, abortSignal) => progressMessages(await this.docker.importImage(body, { ...options, abortSignal })));
    const id = messages.find((m) => /^sha256:[0-9a-f]{64}$/.test(m));
    if (!id) throw new EngineError(`docker: import image: no image id in the engine's answer`);
    return id;
  }

  // ---- containers ---------------------------------------------------------------------------

  /** Every container (running or not), optionally only those carrying all of `labels` ("k=v"). */
  listContainers(labels: readonly string[] = []): Promise<Docker.ContainerInfo[]> {
    const filters = labels.length > 0 ? JSON.stringify({ label: labels }) : undefined;
    return this.call("list containers", () => this.docker.listContainers({ all: true, ...(filters ? { filters } : {}) }));
  }

  inspectContainer(nameOrId: string): Promise<ContainerInspect> {
    return this.call(`inspect container ${nameOrId}`, () => this.docker.getContainer(nameOrId).inspect(), `no such container: ${nameOrId}`);
  }

  async findContainer(nameOrId: string): Promise<ContainerInspect | undefined> {
    try {
      return await this.inspectContainer(nameOrId);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** GET /containers/{id}/export: the container's whole file system as a tar. */
  async exportContainer(id: string): Promise<Readable> {
    return (await this.call(`export container ${id}`, () => this.docker.getContainer(id).export(), `no such container: ${id}`)) as Readable;
  }

  async changes(id: string): Promise<FilesystemChange[]> {
    const answer: unknown = await this.call(`changes of container ${id}`, () => this.docker.getContainer(id).changes(), `no such container: ${id}`);
    const list = changeList(answer);
    if (!list) throw new EngineError(`docker: changes of container ${id}: the engine's answer is not a list of changes`);
    return list;
  }

  pause(id: string): Promise<unknown> {
    return this.call(`pause container ${id}`, () => this.docker.getContainer(id).pause());
  }

  unpause(id: string): Promise<unknown> {
    return this.call(`unpause container ${id}`, () => this.docker.getContainer(id).unpause(), `no such container: ${id}`);
  }

  async createContainer(options: ContainerCreateOptions): Promise<string> {
    const container = await this.call(`create container ${options.name ?? ""}`.trim(), () => this.docker.createContainer(options));
    return container.id;
  }

  start(id: string): Promise<unknown> {
    return this.call(`start container ${id}`, () => this.docker.getContainer(id).start());
  }

  removeContainer(id: string): Promise<unknown> {
    return this.call(`remove container ${id}`, () => this.docker.getContainer(id).remove({ force: true, v: false }));
  }

  /** GET /containers/{id}/archive: a tar of `path` inside the container (its last component first). */
  async getArchive(id: string, pathInContainer: string): Promise<Readable> {
    return (await this.call(`read ${pathInContainer} of container ${id}`, () => this.docker.getContainer(id).getArchive({ path: pathInContainer }))) as Readable;
  }

  /** PUT /containers/{id}/archive: extracts a tar into the container at `path`. */
  putArchive(id: string, pathInContainer: string, tar: Readable): Promise<unknown> {
    return this.upload(`write ${pathInContainer} of container ${id}`, tar, (body, abortSignal) => this.docker.getContainer(id).putArchive(body, { path: pathInContainer, abortSignal }));
  }

  // ---- networks ------------------------------------------------------------------------------

  inspectNetwork(name: string): Promise<NetworkInspect> {
    return this.call(`inspect network ${name}`, () => this.docker.getNetwork(name).inspect() as Promise<NetworkInspect>, `no such network: ${name}`);
  }

  async findNetwork(name: string): Promise<NetworkInspect | undefined> {
    try {
      return await this.inspectNetwork(name);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** POST /networks/{id}/connect: attaches a container to one more network. */
  connectNetwork(network: string, container: string, endpoint: EndpointSettings): Promise<unknown> {
    return this.call(`connect container ${container} to network ${network}`, () => this.docker.getNetwork(network).connect({ Container: container, EndpointConfig: endpoint }));
  }

  createNetwork(options: NetworkCreateOptions): Promise<unknown> {
    return this.call(`create network ${options.Name}`, () => this.docker.createNetwork(options));
  }

  // ---- volumes ------------------------------------------------------------------------------

  async listVolumes(labels: readonly string[] = []): Promise<VolumeInspect[]> {
    const filters = labels.length > 0 ? JSON.stringify({ label: labels }) : undefined;
    const result = await this.call("list volumes", () => this.docker.listVolumes(filters ? { filters } : {}));
    return (result.Volumes ?? []) as VolumeInspect[];
  }

  inspectVolume(name: string): Promise<VolumeInspect> {
    return this.call(`inspect volume ${name}`, () => this.docker.getVolume(name).inspect(), `no such volume: ${name}`);
  }

  async findVolume(name: string): Promise<VolumeInspect | undefined> {
    try {
      return await this.inspectVolume(name);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  createVolume(options: { Name: string; Driver: string; DriverOpts: Record<string, string>; Labels: Record<string, string> }): Promise<unknown> {
    return this.call(`create volume ${options.Name}`, () => this.docker.createVolume(options));
  }

  removeVolume(name: string): Promise<unknown> {
    return this.call(`remove volume ${name}`, () => this.docker.getVolume(name).remove());
  }
}

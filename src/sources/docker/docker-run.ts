import type { Readable } from "node:stream";
import type { BackupContext } from "../../backup/backup-context.js";
import { saveContent } from "../../backup/file-saver.js";
import type { ParentLookup } from "../../backup/parent-lookup.js";
import { syntheticDirNode, type SnapshotTreeBuilder } from "../../backup/snapshot-tree-builder.js";
import { formatNanos } from "../../store/tree/time.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { CairnError, InterruptedError, NotFoundError } from "../../errors.js";
import { EngineClient, EngineError, engineEndpoint } from "./engine-client.js";

export type VolumeAccess = "auto" | "engine";

export interface DockerBackupOptions {
  /** Pause a running container while its file system and volumes are read (default true). */
  pause?: boolean;
  /** docker:all takes only the containers and volumes carrying every one of these labels (KEY=VALUE). */
  labels?: string[];
  /**
   * "auto" reads a volume straight from its mountpoint when the engine is local and the
   * directory is readable (so unchanged files are skipped by metadata), else through the
   * engine; "engine" always goes through the engine.
   */
  volumeAccess?: VolumeAccess;
}

/**
 * What every Docker source of one backup shares: the engine connection, the options, and what
 * has been stored already, so an image used by ten containers (or a volume named twice) is
 * read once.
 */
export class DockerSession {
  readonly done = { images: new Set<string>(), containers: new Set<string>(), volumes: new Set<string>(), networks: new Set<string>() };
  readonly facts: Record<string, string> = {};
  readonly pause: boolean;
  readonly labels: readonly string[];
  readonly volumeAccess: VolumeAccess;
  private engine: EngineClient | undefined;
  private connecting: Promise<void> | undefined;

  constructor(
    options: DockerBackupOptions = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.pause = options.pause ?? true;
    this.labels = options.labels ?? [];
    this.volumeAccess = options.volumeAccess ?? "auto";
  }

  /** The engine reached over the network (tcp://, ssh://), if it is not one on this host. */
  get remoteEndpoint(): string | undefined {
    const endpoint = engineEndpoint(this.env);
    return endpoint.includes("://") ? endpoint : undefined;
  }

  get client(): EngineClient {
    if (!this.engine) throw new Error("internal: the Docker session is used before connect()");
    return this.engine;
  }

  /** Reaches the engine once, recording its version in the snapshot. */
  connect(): Promise<void> {
    this.connecting ??= (async () => {
      const client = await EngineClient.connect(this.env);
      const { version, apiVersion } = await client.version();
      this.engine = client;
      this.facts["docker.engine"] = version;
      this.facts["docker.api"] = apiVersion;
      this.facts["docker.host"] = client.endpoint;
      if (this.labels.length > 0) this.facts["docker.labels"] = this.labels.join(",");
    })();
    return this.connecting;
  }
}

/** One source being archived: the session plus the backup's context, tree and parent. */
export interface DockerRun {
  session: DockerSession;
  ctx: BackupContext;
  tree: SnapshotTreeBuilder;
  parent: ParentLookup;
}

/**
 * Makes sure the (synthetic) directories along `components` exist in the snapshot tree. They
 * and the documents cairn writes carry the time the object was created, not the time of the
 * backup, so an unchanged object shows no change in `cairn diff`.
 */
export function ensureDir(run: DockerRun, components: readonly string[], time: Date): void {
  run.tree.ensureDir(components, (depth) => syntheticDirNode(components[depth]!, time));
}

/** A creation time from the engine, or the epoch when it gives none. */
export function createdAt(text: string | undefined): Date {
  const time = text ? new Date(text) : new Date(0);
  return Number.isNaN(time.getTime()) ? new Date(0) : time;
}

/**
 * A small file cairn writes itself (an inspect document, a manifest). Mode 0600: container
 * configurations carry environment variables, which often hold secrets.
 */
export async function savedFileNode(run: DockerRun, name: string, bytes: Buffer, time: Date): Promise<TreeNode> {
  const saved = await saveContent(run.ctx.repo, (async function* () {
    yield bytes;
  })());
  return {
    name,
    type: "file",
    mode: 0o600,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    mtime: formatNanos(BigInt(time.getTime()) * 1_000_000n),
    size: saved.size,
    content: saved.content,
  };
}

export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + "\n");
}

/** A failure about one object (it vanished, the engine refused it): a warning, the backup goes on. */
export function isObjectFailure(err: unknown): boolean {
  return err instanceof EngineError || err instanceof NotFoundError;
}

/** Archives one object, turning engine failures about it into warnings (the snapshot is then incomplete). */
export async function tolerate(run: DockerRun, path: string, what: () => Promise<void>): Promise<void> {
  try {
    await what();
  } catch (err) {
    if (!isObjectFailure(err)) throw err;
    run.ctx.warn({ path, message: (err as Error).message });
  }
}

/**
 * Reads a stream from the engine with `fn`, and always closes it: when the backup is stopped
 * (SIGINT) the stream ends with InterruptedError, and when `fn` fails (the repository cannot be
 * written) the engine stops sending. When the stream breaks off (the engine died, or dropped
 * the object `what` names), that is said in one line instead of the socket's "aborted".
 */
export async function consumeStream<T>(run: DockerRun, what: string, stream: Readable, fn: (source: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
  const signal = run.ctx.signal;
  const onAbort = () => stream.destroy(new InterruptedError());
  let broken: Error | undefined;
  const onError = (err: Error) => {
    if (!(err instanceof CairnError)) broken ??= err;
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  stream.on("error", onError);
  try {
    if (signal?.aborted) throw new InterruptedError();
    return await fn(stream);
  } catch (err) {
    if (broken) throw await run.session.client.brokenStream(what, broken);
    throw err;
  } finally {
    stream.off("error", onError);
    signal?.removeEventListener("abort", onAbort);
    stream.destroy();
  }
}

/** Counts a stored file as new, changed or unmodified against the same path in the parent. */
export function countFile(run: DockerRun, node: TreeNode, previous: TreeNode | undefined, read: boolean): void {
  const c = run.ctx.counters;
  c.filesProcessed++;
  c.bytesProcessed += node.size ?? 0;
  if (read) c.filesRead++;
  const same = previous?.type === "file" && previous.content?.length === node.content?.length && previous.content!.every((id, i) => id === node.content![i]);
  if (!previous) c.filesNew++;
  else if (same) c.filesUnmodified++;
  else c.filesChanged++;
}

import { spawn } from "node:child_process";
import * as path from "node:path";
import { CairnError, InterruptedError, UsageError } from "../errors.js";
import type { BackupContext } from "../backup/backup-context.js";
import type { BackupSource } from "../backup/backup-source.js";
import { saveContent } from "../backup/file-saver.js";
import type { ParentLookup } from "../backup/parent-lookup.js";
import { syntheticDirNode, type SnapshotTreeBuilder } from "../backup/snapshot-tree-builder.js";
import { formatNanos } from "../store/tree/time.js";
import type { TreeNode } from "../store/tree/tree-node.js";
import { signalProcessTree } from "../platform/process-tree.js";

/** A program whose standard output is backed up. */
export interface CommandInput {
  command: string;
  args?: readonly string[];
  /** The whole environment of the command (default: cairn's own). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface StreamSourceOptions {
  /** Where the bytes are stored: an absolute path of a file in the snapshot, e.g. "/stdin". */
  path: string;
  /** The bytes: a command's standard output, or any async iterable (e.g. process.stdin). */
  input: CommandInput | AsyncIterable<Uint8Array>;
  /**
   * Runs once the stream has ended and before the snapshot is written; throwing fails the
   * backup. For a command, its exit status is checked first (non-zero fails the backup).
   */
  completion?: () => Promise<void>;
  /** What the snapshot lists among its paths (default: `path`), e.g. a database URI. */
  label?: string;
  /** Permission bits of the stored file (default 0644). */
  mode?: number;
  /** Modification time of the stored file (default: when the stream started). */
  time?: Date;
  /** Facts recorded in the snapshot (server version, dump options). */
  facts?: Record<string, string>;
  /** Gets the command's standard error as it runs (default: passed through to cairn's). */
  onStderr?: (chunk: Buffer) => void;
}

/** A command that exited non-zero or was killed: the backup fails and no snapshot is written. */
export class CommandFailedError extends CairnError {
  constructor(
    readonly command: string,
    readonly status: number | null,
    readonly stderrTail: string,
  ) {
    const lastLine = stderrTail.trim().split("\n").pop();
    super(`${command} ${status === null ? "was killed" : `exited with status ${status}`}${lastLine ? `: ${lastLine}` : ""}; no snapshot was written`);
  }
}

const STDERR_TAIL = 4096;

function isCommand(input: StreamSourceOptions["input"]): input is CommandInput {
  return typeof (input as CommandInput).command === "string";
}

/**
 * A byte stream stored as one file in the snapshot: standard input, a command's output
 * (`--stdin-from-command`), or a dump produced by another source. The file's content is always
 * read (there is no metadata to compare); unchanged content still deduplicates to nothing.
 */
export class StreamSource implements BackupSource {
  readonly path: string;
  readonly facts?: Record<string, string>;
  private readonly filePath: string;

  constructor(private readonly options: StreamSourceOptions) {
    if (!options.path.startsWith("/") || path.posix.normalize(options.path) !== options.path || options.path === "/") {
      throw new UsageError(`stream path must be an absolute file path such as /stdin, got ${JSON.stringify(options.path)}`);
    }
    this.filePath = options.path;
    this.path = options.label ?? options.path;
    if (options.facts) this.facts = options.facts;
  }

  async archive(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup): Promise<void> {
    const components = this.filePath.split("/").filter(Boolean);
    const ancestors = components.slice(0, -1);
    const started = this.options.time ?? new Date();
    tree.ensureDir(ancestors, (depth) => syntheticDirNode(ancestors[depth]!, started));
    const previous = await parent.nodeAt(components);

    ctx.onFile?.(this.filePath);
    ctx.counters.filesRead++;
    const onBytes = (n: number) => (ctx.counters.bytesProcessed += n);
    const saved = isCommand(this.options.input)
      ? await this.readCommand(ctx, this.options.input, onBytes)
      : await saveContent(ctx.repo, abortable(this.options.input, ctx.signal), onBytes);
    await this.options.completion?.();

    const node: TreeNode = {
      name: components[components.length - 1]!,
      type: "file",
      mode: this.options.mode ?? 0o644,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      mtime: formatNanos(BigInt(started.getTime()) * 1_000_000n),
      size: saved.size,
      content: saved.content,
    };
    ctx.counters.filesProcessed++;
    if (previous?.type !== "file") ctx.counters.filesNew++;
    else if (previous.content?.join() === saved.content.join()) ctx.counters.filesUnmodified++;
    else ctx.counters.filesChanged++;
    tree.put(ancestors, node);
  }

  private async readCommand(ctx: BackupContext, input: CommandInput, onBytes: (n: number) => void) {
    const display = [input.command, ...(input.args ?? [])].join(" ");
    const child = spawn(input.command, input.args ?? [], { stdio: ["ignore", "pipe", "pipe"], env: input.env ?? process.env, cwd: input.cwd });
    let stderrTail = "";
    child.stderr.on("data", (chunk: Buffer) => {
      (this.options.onStderr ?? ((c: Buffer) => process.stderr.write(c)))(chunk);
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on("error", (err: NodeJS.ErrnoException) => reject(new CairnError(`cannot run ${input.command}: ${err.code ?? err.message}; no snapshot was written`)));
      child.on("close", (status) => resolve(status));
    });
    // Without this, a spawn error would surface only once the output loop ended.
    exited.catch(() => undefined);
    // The whole tree: `sh -c "pg_dump … | gzip"` would leave the pipeline running otherwise.
    // Only while the command runs: once it has been reaped its pid may be another process's.
    const kill = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) signalProcessTree(child.pid, "SIGTERM");
    };
    ctx.signal?.addEventListener("abort", kill, { once: true });
    try {
      const saved = await saveContent(ctx.repo, abortable(child.stdout, ctx.signal), onBytes);
      const status = await exited;
      if (ctx.signal?.aborted) throw new InterruptedError();
      if (status !== 0) throw new CommandFailedError(display, status, stderrTail);
      return saved;
    } finally {
      ctx.signal?.removeEventListener("abort", kill);
      kill();
    }
  }
}

/** Ends a stream with InterruptedError as soon as the signal fires, even while it waits for data. */
async function* abortable(source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (signal?.aborted) throw new InterruptedError();
      const next = await nextOrAbort(iterator, signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Closes the underlying stream (a pipe or stdin) without waiting for a read in progress.
    void iterator.return?.();
  }
}

/**
 * The iterator's next result, or InterruptedError once the signal fires. A listener per read,
 * not Promise.race against one promise that never settles: each race's result stayed
 * reachable from it, so every chunk read was held until the stream ended (1 GiB of stdin held
 * 1.2 GB).
 */
function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal | undefined): Promise<IteratorResult<T>> {
  if (!signal) return iterator.next();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new InterruptedError());
    signal.addEventListener("abort", onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener("abort", onAbort);
        resolve(result);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IntegrityError, InterruptedError } from "../errors.js";
import { paddingFor } from "../tar/tar-header.js";
import { encodeTarHeader, TAR_END } from "../tar/tar-writer.js";
import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import { TarEntryHeaders } from "../store/tree/tar-entry-headers.js";
import { findNode } from "../store/tree/tree-walker.js";
import { nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";
import { unsafeNameReason } from "./safe-name.js";

/** Blobs fetched ahead of the one being written: reads overlap writes without holding a file in memory. */
const READ_AHEAD = 4;

/**
 * A file's content, blob by blob, in order. Every blob is verified against its id as it is
 * read (loadBlob decodes and hashes it), and the total is checked against the recorded size,
 * so a damaged repository ends the stream with an error rather than wrong bytes.
 */
export async function* fileContent(repo: Repository, node: TreeNode, path: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const ids = node.content ?? [];
  const pending: Promise<Buffer>[] = [];
  const fetch = (id: Id) => {
    const read = repo.loadBlob(id).catch((err: Error) => {
      throw new IntegrityError(`${path}: ${err.message}`);
    });
    // Reads started ahead may fail after an earlier one already ended the stream.
    read.catch(() => undefined);
    pending.push(read);
  };
  let next = 0;
  let total = 0;
  while (next < ids.length && pending.length < READ_AHEAD) fetch(ids[next++]!);
  while (pending.length > 0) {
    if (signal?.aborted) throw new InterruptedError();
    const blob = await pending.shift()!;
    if (next < ids.length) fetch(ids[next++]!);
    total += blob.length;
    yield blob;
  }
  if (node.size !== undefined && total !== node.size) throw new IntegrityError(`${path}: content is ${total} bytes, the snapshot records ${node.size}`);
}

/** Writes one file's content to `out`, which is ended afterwards. */
export async function dumpFile(repo: Repository, node: TreeNode, path: string, out: Writable, signal?: AbortSignal): Promise<void> {
  await pipeline(Readable.from(fileContent(repo, node, path, signal)), out);
}


function joinName(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from("/"), name]);
}

export interface DumpOptions {
  /** Told about each item a tar archive cannot hold (a socket, an unsafe name); the dump goes on. */
  onSkip?: (path: string, reason: string) => void;
  /** Ends the output early with InterruptedError, between blobs. */
  signal?: AbortSignal;
}

/**
 * Writes what is at `path` in a snapshot to `out`: a file as its bytes, anything else (a
 * directory above all) as a tar stream. Returns which of the two it wrote.
 */
export async function dump(repo: Repository, rootTree: Id, path: string, out: Writable, options: DumpOptions = {}): Promise<"file" | "tar"> {
  const node = await findNode(repo, rootTree, path);
  if (node?.type === "file") {
    await dumpFile(repo, node, path, out, options.signal);
    return "file";
  }
  await dumpTar(repo, rootTree, node, path, out, options);
  return "tar";
}

/**
 * Writes a part of a snapshot as a tar stream (pax format where needed: long names,
 * sub-second or pre-1970 times, extended attributes) with modes, owners, times, symlinks,
 * devices and hard links. Entries are named relative to the item's parent, like
 * `tar -C parent -c dir`; for the snapshot root (no node), relative to the root. `out` is
 * ended afterwards.
 */
export async function dumpTar(repo: Repository, rootTree: Id, node: TreeNode | undefined, path: string, out: Writable, options: DumpOptions = {}): Promise<void> {
  await pipeline(Readable.from(tarEntries(repo, rootTree, node, path, options)), out);
}

/**
 * The archive's bytes. Written with cairn's own tar codec rather than tar-stream, which
 * encodes names and pax values as UTF-8 text (a name that is not UTF-8 would come out
 * altered, and so would a binary xattr) and replaces a mode of 0 with 0644 or 0755.
 */
async function* tarEntries(repo: Repository, rootTree: Id, node: TreeNode | undefined, path: string, options: DumpOptions): AsyncGenerator<Buffer> {
  const headers = new TarEntryHeaders();

  async function* add(node: TreeNode, name: Buffer, snapshotPath: string): AsyncGenerator<Buffer> {
    const header = headers.headerFor(node, name);
    if (!header) {
      options.onSkip?.(snapshotPath, `a ${node.type} cannot be stored in a tar archive`);
      return;
    }
    yield encodeTarHeader(header);
    if (header.type === "file") {
      const size = header.size!;
      // The header promised `size` bytes: content of any other length ends the dump as damage.
      yield* fileContent(repo, { ...node, size }, snapshotPath, options.signal);
      yield Buffer.alloc(paddingFor(size));
    } else if (header.type === "dir") {
      yield* addChildren(node.subtree!, name, snapshotPath);
    }
  }

  async function* addChildren(tree: Id, name: Buffer, snapshotPath: string): AsyncGenerator<Buffer> {
    for (const child of await repo.loadTree(tree)) {
      if (options.signal?.aborted) throw new InterruptedError();
      const childPath = `${snapshotPath === "/" ? "" : snapshotPath}/${child.name}`;
      const unsafe = unsafeNameReason(child);
      if (unsafe) {
        options.onSkip?.(childPath, unsafe);
        continue;
      }
      yield* add(child, joinName(name, nodeNameBytes(child)), childPath);
    }
  }

  if (node) yield* add(node, nodeNameBytes(node), path);
  else yield* addChildren(rootTree, Buffer.alloc(0), "/");
  yield TAR_END;
}

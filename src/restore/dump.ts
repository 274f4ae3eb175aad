import { once } from "node:events";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { IntegrityError, InterruptedError } from "../errors.js";
import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import { findNode } from "../store/tree/tree-walker.js";
import { parseNanos } from "../store/tree/time.js";
import type { TreeNode } from "../store/tree/tree-node.js";
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

type TarHeader = Partial<tar.Header> & Pick<tar.Header, "name">;

const TAR_TYPES: Partial<Record<TreeNode["type"], tar.Header["type"]>> = {
  file: "file",
  dir: "directory",
  symlink: "symlink",
  fifo: "fifo",
  chardev: "character-device",
  blockdev: "block-device",
};

function pax(node: TreeNode, skip: (reason: string) => void): Record<string, string> {
  // Nanosecond times and 64-bit ids survive only in pax records; tar's own fields hold seconds.
  const seconds = (time: string) => {
    const ns = parseNanos(time);
    const whole = ns / 1_000_000_000n;
    const fraction = ns % 1_000_000_000n;
    return fraction === 0n ? whole.toString() : `${whole}.${fraction.toString().padStart(9, "0")}`;
  };
  const records: Record<string, string> = { mtime: seconds(node.mtime) };
  if (node.atime) records.atime = seconds(node.atime);
  for (const x of node.xattrs ?? []) {
    const text = x.value.toString("utf8");
    // tar-stream writes pax values as UTF-8 text; a binary value (e.g. security.capability) would come out altered.
    if (Buffer.from(text, "utf8").equals(x.value)) records[`SCHILY.xattr.${x.name}`] = text;
    else skip(`extended attribute ${x.name} has a binary value, which this tar writer cannot store`);
  }
  return records;
}

function header(node: TreeNode, name: string, skip: (reason: string) => void): TarHeader {
  const h: TarHeader = {
    name,
    mode: node.mode & 0o7777,
    uid: node.uid,
    gid: node.gid,
    mtime: new Date(Number(parseNanos(node.mtime) / 1_000_000n)),
    type: TAR_TYPES[node.type]!,
    size: node.type === "file" ? (node.size ?? 0) : 0,
    pax: pax(node, skip),
  };
  if (node.user !== undefined) h.uname = node.user;
  if (node.group !== undefined) h.gname = node.group;
  if (node.type === "symlink") h.linkname = node.linkTarget ?? "";
  if (node.type === "chardev" || node.type === "blockdev") {
    const rdev = BigInt(node.rdev ?? 0);
    // Linux's dev_t layout, as glibc's major()/minor() read it.
    h.devmajor = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    h.devminor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  }
  return h;
}

export interface DumpOptions {
  /** Told about each item (or binary extended attribute) a tar archive cannot hold; the dump goes on. */
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
 * nanosecond times, extended attributes) with modes, owners, times, symlinks, devices and
 * hard links. Entries are named relative to the item's parent, like `tar -C parent -c dir`;
 * for the snapshot root (no node), relative to the root. `out` is ended afterwards.
 */
export async function dumpTar(repo: Repository, rootTree: Id, node: TreeNode | undefined, path: string, out: Writable, options: DumpOptions = {}): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  // Awaited below; until then a failure must not count as unhandled.
  done.catch(() => undefined);
  const hardlinks = new Map<string, string>();

  const entry = async (h: TarHeader, content?: AsyncIterable<Buffer>) => {
    const written = new Promise<void>((resolve, reject) => {
      const sink = pack.entry(h, (err) => (err ? reject(err) : resolve()));
      // A failed entry is reported through the callback above; its stream's "error" event adds nothing.
      sink.on("error", () => undefined);
      if (!content) {
        sink.end(null);
        return;
      }
      void (async () => {
        for await (const chunk of content) if (!sink.write(chunk)) await once(sink, "drain");
        sink.end(null);
      })().catch((err: Error) => {
        sink.destroy(err);
        reject(err);
      });
    });
    await written;
  };

  const add = async (node: TreeNode, name: string, snapshotPath: string): Promise<void> => {
    if (!TAR_TYPES[node.type]) {
      options.onSkip?.(snapshotPath, `a ${node.type} cannot be stored in a tar archive`);
      return;
    }
    const skip = (reason: string) => options.onSkip?.(snapshotPath, reason);
    if (node.type === "file" && node.links !== undefined && node.links > 1 && node.inode !== undefined) {
      const key = `${node.deviceId ?? 0}:${node.inode}`;
      const first = hardlinks.get(key);
      if (first !== undefined) {
        // Same inode as an entry already written: its attributes were reported there.
        await entry({ ...header(node, name, () => undefined), type: "link", linkname: first, size: 0 });
        return;
      }
      hardlinks.set(key, name);
    }
    const h = header(node, node.type === "dir" ? `${name}/` : name, skip);
    await entry(h, node.type === "file" ? fileContent(repo, node, snapshotPath, options.signal) : undefined);
    if (node.type === "dir") await addChildren(node.subtree!, name, snapshotPath);
  };

  const addChildren = async (tree: Id, name: string, snapshotPath: string): Promise<void> => {
    for (const child of await repo.loadTree(tree)) {
      if (options.signal?.aborted) throw new InterruptedError();
      const childPath = `${snapshotPath === "/" ? "" : snapshotPath}/${child.name}`;
      const unsafe = unsafeNameReason(child);
      if (unsafe) {
        options.onSkip?.(childPath, unsafe);
        continue;
      }
      await add(child, name ? `${name}/${child.name}` : child.name, childPath);
    }
  };

  try {
    if (node) await add(node, node.name, path);
    else await addChildren(rootTree, "", "/");
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  }
  await done;
}

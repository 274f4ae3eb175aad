import { IntegrityError } from "../../errors.js";
import type { Repository } from "../../store/repository.js";
import { parseNanos } from "../../store/tree/time.js";
import { linkTargetBytes, nodeNameBytes, type TreeNode } from "../../store/tree/tree-node.js";
import { paddingFor, splitDev, type TarEntryType } from "../../tar/tar-header.js";
import { encodeTarHeader, TAR_END } from "../../tar/tar-writer.js";

/**
 * One node to put in the archive, at `path`; a directory's contents follow when `recursive`.
 * `data` replaces a file's stored content (for documents cairn writes at restore time).
 */
export interface TarItem {
  path: Buffer;
  node: TreeNode;
  recursive: boolean;
  data?: Buffer;
}

const TAR_TYPES: Partial<Record<TreeNode["type"], TarEntryType>> = {
  file: "file",
  dir: "dir",
  symlink: "symlink",
  chardev: "chardev",
  blockdev: "blockdev",
  fifo: "fifo",
};

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from("/"), name]);
}

/**
 * Streams snapshot nodes as a tar archive the Docker engine can extract (PUT archive, image
 * load, import): metadata, xattrs and hard links as stored; file contents read from the
 * repository and verified blob by blob. Sockets have no tar form and are left out.
 */
export async function* treeToTar(repo: Repository, items: Iterable<TarItem> | AsyncIterable<TarItem>): AsyncGenerator<Buffer> {
  const firstNames = new Map<string, Buffer>();

  async function* entry(path: Buffer, node: TreeNode, recursive: boolean, data?: Buffer): AsyncGenerator<Buffer> {
    const type = TAR_TYPES[node.type];
    if (!type) return;
    const header = {
      path,
      type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      uname: node.user ?? "",
      gname: node.group ?? "",
      mtimeNs: parseNanos(node.mtime),
      xattrs: node.xattrs ?? [],
    };
    if (node.type === "file" && node.links !== undefined && node.links > 1 && node.inode !== undefined) {
      const key = `${node.deviceId ?? 0}:${node.inode}`;
      const first = firstNames.get(key);
      if (first) {
        yield encodeTarHeader({ ...header, type: "hardlink", linkTarget: first });
        return;
      }
      firstNames.set(key, path);
    }
    if (node.type === "symlink") {
      yield encodeTarHeader({ ...header, linkTarget: linkTargetBytes(node) });
      return;
    }
    if (node.type === "chardev" || node.type === "blockdev") {
      const { major, minor } = splitDev(node.rdev ?? 0);
      yield encodeTarHeader({ ...header, devMajor: major, devMinor: minor });
      return;
    }
    if (node.type === "file" && data) {
      yield encodeTarHeader({ ...header, size: data.length });
      yield data;
      yield Buffer.alloc(paddingFor(data.length));
      return;
    }
    if (node.type === "file") {
      const size = node.size ?? 0;
      yield encodeTarHeader({ ...header, size });
      let written = 0;
      for (const id of node.content ?? []) {
        const data = await repo.loadBlob(id);
        written += data.length;
        if (written > size) break;
        yield data;
      }
      if (written !== size) throw new IntegrityError(`${path.toString("utf8")}: stored content is ${written} bytes, the snapshot says ${size}`);
      yield Buffer.alloc(paddingFor(size));
      return;
    }
    yield encodeTarHeader(header);
    if (node.type === "dir" && recursive && node.subtree) {
      for (const child of await repo.loadTree(node.subtree)) yield* entry(join(path, nodeNameBytes(child)), child, true);
    }
  }

  for await (const item of items) yield* entry(item.path, item.node, item.recursive, item.data);
  yield TAR_END;
}

import { IntegrityError } from "../../errors.js";
import type { Repository } from "../../store/repository.js";
import { TarEntryHeaders } from "../../store/tree/tar-entry-headers.js";
import { nodeNameBytes, type TreeNode } from "../../store/tree/tree-node.js";
import { paddingFor } from "../../tar/tar-header.js";
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

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from("/"), name]);
}

/**
 * Streams snapshot nodes as a tar archive the Docker engine can extract (PUT archive, image
 * load, import): metadata, xattrs and hard links as stored; file contents read from the
 * repository and verified blob by blob. Sockets have no tar form and are left out.
 */
export async function* treeToTar(repo: Repository, items: Iterable<TarItem> | AsyncIterable<TarItem>): AsyncGenerator<Buffer> {
  const headers = new TarEntryHeaders();

  async function* entry(path: Buffer, node: TreeNode, recursive: boolean, data?: Buffer): AsyncGenerator<Buffer> {
    const header = headers.headerFor(node, path);
    if (!header) return;
    if (header.type === "file" && data) {
      yield encodeTarHeader({ ...header, size: data.length });
      yield data;
      yield Buffer.alloc(paddingFor(data.length));
      return;
    }
    yield encodeTarHeader(header);
    if (header.type === "file") {
      const size = header.size!;
      let written = 0;
      for (const id of node.content ?? []) {
        const data = await repo.loadBlob(id);
        written += data.length;
        if (written > size) break;
        yield data;
      }
      if (written !== size) throw new IntegrityError(`${path.toString("utf8")}: stored content is ${written} bytes, the snapshot says ${size}`);
      yield Buffer.alloc(paddingFor(size));
    } else if (header.type === "dir" && recursive && node.subtree) {
      for (const child of await repo.loadTree(node.subtree)) yield* entry(join(path, nodeNameBytes(child)), child, true);
    }
  }

  for await (const item of items) yield* entry(item.path, item.node, item.recursive, item.data);
  yield TAR_END;
}

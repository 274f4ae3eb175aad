import * as fs from "node:fs/promises";
import { hashBytes } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { TreeNode } from "../store/tree/tree-node.js";

/**
 * Reads a restored file back and checks it against the snapshot: its size, and every chunk
 * against the id (SHA-256) of the blob it came from. Returns what is wrong, or undefined.
 */
export async function verifyRestoredFile(repo: Repository, path: Buffer, node: Pick<TreeNode, "size" | "content">): Promise<string | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, "r");
  } catch (err) {
    return `cannot read back: ${(err as Error).message}`;
  }
  try {
    const size = (await handle.stat()).size;
    if (size !== (node.size ?? 0)) return `size is ${size} bytes, the snapshot records ${node.size ?? 0}`;
    let offset = 0;
    let buffer = Buffer.alloc(0);
    for (const [index, id] of (node.content ?? []).entries()) {
      const length = repo.lookupBlob(id)?.plainLength;
      if (length === undefined) return `blob ${id} is not in the index, cannot check chunk ${index}`;
      if (buffer.length < length) buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      if (bytesRead !== length || hashBytes(buffer.subarray(0, length)) !== id) return `content differs from the snapshot at bytes ${offset}-${offset + length - 1} (chunk ${index})`;
      offset += length;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

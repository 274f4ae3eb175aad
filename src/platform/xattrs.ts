import type { ExtendedAttribute } from "../store/tree/tree-node.js";
import { cPath, errnoError, libc } from "./libc.js";

/** Whether extended attributes can be read and written on this platform. */
export function xattrsSupported(): boolean {
  return libc() !== undefined;
}

/**
 * Every extended attribute of a file (not following a symlink), sorted by name. One cheap
 * llistxattr call answers for the common file that has none. A file system without xattr
 * support reads as having none.
 */
export function readXattrs(path: Buffer): ExtendedAttribute[] {
  const c = libc();
  if (!c) return [];
  const p = cPath(path);
  let names: Buffer;
  for (;;) {
    const size = c.llistxattr(p, null, 0);
    if (size < 0) {
      const err = errnoError("llistxattr", path);
      if (err.code === "ENOTSUP" || err.code === "EOPNOTSUPP") return [];
      throw err;
    }
    if (size === 0) return [];
    names = Buffer.alloc(size);
    const got = c.llistxattr(p, names, size);
    if (got >= 0) {
      names = names.subarray(0, got);
      break;
    }
    // ERANGE: an attribute was added between the two calls; ask again.
    const err = errnoError("llistxattr", path);
    if (err.code !== "ERANGE") throw err;
  }
  const result: ExtendedAttribute[] = [];
  for (const name of names.toString("utf8").split("\0").filter(Boolean)) {
    const value = readValue(p, path, name);
    if (value) result.push({ name, value });
  }
  return result.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function readValue(p: Buffer, path: Buffer, name: string): Buffer | undefined {
  const c = libc()!;
  for (;;) {
    const size = c.lgetxattr(p, name, null, 0);
    if (size < 0) {
      const err = errnoError("lgetxattr", path);
      if (err.code === "ENODATA") return undefined; // removed since it was listed
      throw err;
    }
    const value = Buffer.alloc(size);
    const got = size === 0 ? 0 : c.lgetxattr(p, name, value, size);
    if (got >= 0) return value.subarray(0, got);
    const err = errnoError("lgetxattr", path);
    if (err.code !== "ERANGE") throw err;
  }
}

/** Sets extended attributes on a file (not following a symlink); throws on the first failure. */
export function writeXattrs(path: Buffer, attributes: readonly { name: string; value: Uint8Array }[]): void {
  if (attributes.length === 0) return;
  const c = libc();
  if (!c) throw new Error("extended attributes are not supported on this platform");
  const p = cPath(path);
  for (const { name, value } of attributes) {
    if (c.lsetxattr(p, name, value, value.length, 0) !== 0) throw errnoError(`lsetxattr ${name}`, path);
  }
}

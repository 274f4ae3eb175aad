import { hashBytes, type Id } from "./id.js";

/** What is wrong with `plain` as the blob named `id`, or undefined when its SHA-256 is that id. */
export function blobMismatch(id: Id, plain: Uint8Array): string | undefined {
  const actual = hashBytes(plain);
  return actual === id ? undefined : `blob ${id}: content hash is ${actual}`;
}

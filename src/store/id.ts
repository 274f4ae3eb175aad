import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";

/** A lowercase hex SHA-256: the name of every object and blob. */
export type Id = string;

export const ID_BYTES = 32;
const ID_PATTERN = /^[0-9a-f]{64}$/;

export function hashBytes(data: Uint8Array): Id {
  return createHash("sha256").update(data).digest("hex");
}

export function isId(text: string): boolean {
  return ID_PATTERN.test(text);
}

export function shortId(id: Id): string {
  return id.slice(0, 8);
}

export function idToBytes(id: Id): Buffer {
  if (!isId(id)) throw new UsageError(`not a valid id: ${JSON.stringify(id)}`);
  return Buffer.from(id, "hex");
}

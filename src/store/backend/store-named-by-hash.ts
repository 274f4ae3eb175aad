import { AlreadyExistsError, CairnError } from "../../errors.js";
import { hashBytes, type Id } from "../id.js";
import type { Backend } from "./backend.js";

/**
 * Stores `bytes`, whose SHA-256 is `id`, under `key`. Backends never overwrite, and an object
 * named by its hash that already exists normally holds these very bytes (an interrupted run
 * wrote them), so that is success. But the object there may be a damaged copy of them (a crash,
 * a bad disk, a salvage that rebuilt a damaged pack exactly): then it holds nothing these bytes
 * do not, and it is replaced, atomically, so nothing it still held good is ever missing.
 */
export async function storeNamedByHash(backend: Backend, key: string, id: Id, bytes: Uint8Array): Promise<void> {
  try {
    await backend.put(key, bytes);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    // Unreadable counts as damaged: bytes that hash to the name are right whatever was there.
    const existing = await backend.get(key).catch((error: unknown) => (error instanceof CairnError ? undefined : Promise.reject(error)));
    if (existing && hashBytes(existing) === id) return;
    await backend.replace(key, bytes);
  }
}

import { AlreadyExistsError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import { hashBytes, type Id } from "../id.js";
import { packKey } from "./pack-format.js";

/**
 * Stores a pack under its name. Backends never overwrite, and a pack named by its hash that
 * already exists normally holds these very bytes, so that is success. But the object there
 * may be a damaged copy of them (a salvage that rebuilt a damaged pack exactly, or a crash
 * that left one): then it holds nothing these bytes do not, and it is replaced.
 */
export async function uploadPack(backend: Backend, id: Id, bytes: Uint8Array): Promise<void> {
  const key = packKey(id);
  try {
    await backend.put(key, bytes);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    if (hashBytes(await backend.get(key)) === id) return;
    await backend.delete(key);
    await backend.put(key, bytes);
  }
}

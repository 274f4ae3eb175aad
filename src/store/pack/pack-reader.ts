import { IntegrityError } from "../../errors.js";
import type { Backend } from "../backend/backend.js";
import type { Id } from "../id.js";
import { PACK_FOOTER_BYTES, packKey, parseFooter, parseTrailer, type PackEntry } from "./pack-format.js";

/** Reads a pack's blob list from its trailer alone: two small range reads, never the blobs. */
export async function readPackEntries(backend: Backend, packId: Id, packSize: number): Promise<PackEntry[]> {
  const key = packKey(packId);
  if (packSize < PACK_FOOTER_BYTES) throw new IntegrityError(`pack ${packId}: ${packSize} bytes is too short to be a pack`);
  const footer = await backend.get(key, { offset: packSize - PACK_FOOTER_BYTES, length: PACK_FOOTER_BYTES });
  const trailerLength = parseFooter(packId, footer, packSize);
  const trailer = await backend.get(key, { offset: packSize - PACK_FOOTER_BYTES - trailerLength, length: trailerLength });
  return parseTrailer(packId, trailer, packSize);
}

/** The blob list of a pack already in memory. */
export function parsePackEntries(packId: Id, bytes: Buffer): PackEntry[] {
  const footer = bytes.subarray(Math.max(0, bytes.length - PACK_FOOTER_BYTES));
  const trailerLength = parseFooter(packId, footer, bytes.length);
  const start = bytes.length - PACK_FOOTER_BYTES - trailerLength;
  return parseTrailer(packId, bytes.subarray(start, start + trailerLength), bytes.length);
}

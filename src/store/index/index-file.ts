import { IntegrityError } from "../../errors.js";
import type { BlobType } from "../blob-type.js";
import { isId, type Id } from "../id.js";
import { MAX_BLOB_BYTES, type PackEntry } from "../pack/pack-format.js";

/** Offsets and sizes are stored as u32 in the index database and pack trailers. */
const MAX_PACK_BYTES = 0xffffffff;
const KNOWN_COMPRESSIONS = new Set([0, 1]);

/** What one pack holds, as recorded in an index file. */
export interface IndexedPack {
  id: Id;
  type: BlobType;
  size: number;
  entries: PackEntry[];
}

/**
 * An index file: JSON `{"version":1,"packs":[{"id","type","size","blobs":[[id, offset,
 * stored length, plaintext length, compression], …]}]}`, stored zstd-compressed under
 * `index/<sha256 of the stored bytes>`.
 */
export interface IndexFileContent {
  packs: IndexedPack[];
}

type BlobTuple = [string, number, number, number, number];

export function serializeIndexFile(content: IndexFileContent): Buffer {
  const packs = content.packs.map((pack) => ({
    id: pack.id,
    type: pack.type,
    size: pack.size,
    blobs: pack.entries.map((e): BlobTuple => [e.id, e.offset, e.storedLength, e.plainLength, e.compression]),
  }));
  return Buffer.from(JSON.stringify({ version: 1, packs }));
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function parseIndexFile(name: string, json: Buffer): IndexFileContent {
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString("utf8"));
  } catch {
    throw new IntegrityError(`index ${name}: not valid JSON`);
  }
  const bad = (what: string) => new IntegrityError(`index ${name}: ${what}`);
  if (typeof doc !== "object" || doc === null) throw bad("not an object");
  const { version, packs } = doc as { version?: unknown; packs?: unknown };
  if (version !== 1) throw bad(`unsupported version ${String(version)}`);
  if (!Array.isArray(packs)) throw bad("packs is not a list");
  return {
    packs: packs.map((raw: unknown): IndexedPack => {
      const pack = raw as { id?: unknown; type?: unknown; size?: unknown; blobs?: unknown };
      if (typeof pack.id !== "string" || !isId(pack.id)) throw bad("pack without a valid id");
      if (pack.type !== "data" && pack.type !== "tree") throw bad(`pack ${pack.id} has an unknown type`);
      if (!isCount(pack.size) || pack.size > MAX_PACK_BYTES) throw bad(`pack ${pack.id} has an invalid size`);
      if (!Array.isArray(pack.blobs)) throw bad(`pack ${pack.id} has no blob list`);
      const type = pack.type;
      const entries = pack.blobs.map((blob: unknown): PackEntry => {
        if (!Array.isArray(blob) || blob.length !== 5) throw bad(`pack ${pack.id} has a malformed blob entry`);
        const [id, offset, storedLength, plainLength, compression] = blob as unknown[];
        if (typeof id !== "string" || !isId(id) || !isCount(offset) || !isCount(storedLength) || !isCount(plainLength) || !isCount(compression)) {
          throw bad(`pack ${pack.id} has a malformed blob entry`);
        }
        if (storedLength > MAX_BLOB_BYTES || plainLength > MAX_BLOB_BYTES || offset + storedLength > (pack.size as number) || !KNOWN_COMPRESSIONS.has(compression)) {
          throw bad(`pack ${pack.id}: blob ${id} has an impossible length, offset or compression`);
        }
        return { id, type, offset, storedLength, plainLength, compression };
      });
      return { id: pack.id, type, size: pack.size, entries };
    }),
  };
}

import { createHash } from "node:crypto";
import { validateChunkerParams, type ChunkerParams } from "../chunker/index.js";
import { RepositoryNotFoundError, UsageError } from "../errors.js";

export const REPOSITORY_VERSION = 1;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_COMPRESSION_LEVEL = 3;

/** The `config` object: fixed at init, read by every command. */
export interface RepositoryConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams;
  compression: { algorithm: "zstd"; level: number };
  packSize: number;
}

export function validatePackSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 1024 * 1024 || size > 512 * 1024 * 1024) {
    throw new UsageError(`pack size must be between 1 MiB and 512 MiB, got ${size}`);
  }
  return size;
}

export function validateCompressionLevel(level: number): number {
  if (!Number.isInteger(level) || level < 0 || level > 19) {
    throw new UsageError(`compression level must be an integer from 0 (off) to 19, got ${level}`);
  }
  return level;
}

function configFields(config: RepositoryConfig): Record<string, unknown> {
  return {
    version: config.version,
    id: config.id,
    created: config.created,
    chunker: { min_size: config.chunker.minSize, avg_size: config.chunker.avgSize, max_size: config.chunker.maxSize },
    compression: { algorithm: config.compression.algorithm, level: config.compression.level },
    pack_size: config.packSize,
  };
}

/**
 * The SHA-256 of the settings in a fixed form. A changed chunker size still parses, and would
 * silently cut every later backup into chunks that match nothing stored before.
 */
function configChecksum(config: RepositoryConfig): string {
  return createHash("sha256").update(JSON.stringify(configFields(config))).digest("hex");
}

export function serializeConfig(config: RepositoryConfig): Buffer {
  return Buffer.from(JSON.stringify({ ...configFields(config), checksum: configChecksum(config) }, null, 2) + "\n");
}

export function parseConfig(location: string, bytes: Buffer): RepositoryConfig {
  const damaged = (what: string) => new RepositoryNotFoundError(`${location}: repository config is damaged (${what})`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw damaged("not valid JSON");
  }
  if (typeof doc !== "object" || doc === null) throw damaged("not an object");
  if (doc.version !== REPOSITORY_VERSION) throw damaged(`unsupported version ${JSON.stringify(doc.version)}`);
  if (typeof doc.id !== "string" || doc.id.length === 0) throw damaged("no repository id");
  const chunker = doc.chunker as Record<string, unknown> | undefined;
  const compression = doc.compression as Record<string, unknown> | undefined;
  if (!chunker || !compression || compression.algorithm !== "zstd") throw damaged("missing chunker or compression settings");
  let config: RepositoryConfig;
  try {
    config = {
      version: REPOSITORY_VERSION,
      id: doc.id,
      created: typeof doc.created === "string" ? doc.created : "",
      chunker: validateChunkerParams({
        minSize: Number(chunker.min_size),
        avgSize: Number(chunker.avg_size),
        maxSize: Number(chunker.max_size),
      }),
      compression: { algorithm: "zstd", level: validateCompressionLevel(Number(compression.level)) },
      packSize: validatePackSize(Number(doc.pack_size)),
    };
  } catch (err) {
    throw damaged((err as Error).message);
  }
  // Repositories made before the checksum have none: they are read as they are.
  if (doc.checksum !== undefined && doc.checksum !== configChecksum(config)) throw damaged("its checksum does not match its settings");
  return config;
}

import { UsageError } from "../errors.js";

/** FastCDC chunk size bounds in bytes; stored in the repository config, fixed at init. */
export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Chosen by measurement (docs/benchmarks.md, "Choosing the chunk size"): half the daily growth of 1 MiB chunks, same first backup. */
export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = Object.freeze({
  minSize: 64 * KiB,
  avgSize: 256 * KiB,
  maxSize: 1 * MiB,
});

/**
 * Lower bounds are the fastcdc 1.0.5 crate's MINIMUM_MIN, AVERAGE_MIN and MAXIMUM_MIN (below them
 * the wasm panics). Its upper bounds (64 MiB, 256 MiB, 1 GiB) are far above ours: we cap every
 * size at 16 MiB so that the streaming window (2 x maxSize) stays within 64 MiB.
 */
const LIMITS = {
  minSize: { low: 64, high: 16 * MiB },
  avgSize: { low: 256, high: 16 * MiB },
  maxSize: { low: 1 * KiB, high: 16 * MiB },
} as const;

function describeSize(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} bytes`;
}

/**
 * Returns a frozen copy of `p` if the wasm chunker accepts it, else throws UsageError naming the
 * field. The wasm converts numbers with ToInt32 (2^32 + 64 becomes 64, 1.5 becomes 1) and panics
 * on out-of-range values, so nothing unchecked may ever reach it.
 */
export function validateChunkerParams(p: ChunkerParams): ChunkerParams {
  for (const field of ["minSize", "avgSize", "maxSize"] as const) {
    const value = p[field];
    const { low, high } = LIMITS[field];
    if (!Number.isSafeInteger(value) || value < low || value > high) {
      throw new UsageError(
        `chunker ${field} must be an integer from ${describeSize(low)} to ${describeSize(high)}, got ${value}`,
      );
    }
  }
  if (p.minSize > p.maxSize) {
    throw new UsageError(`chunker minSize must be at most maxSize (${p.maxSize}), got ${p.minSize}`);
  }
  if (p.avgSize < p.minSize || p.avgSize > p.maxSize) {
    throw new UsageError(
      `chunker avgSize must be between minSize (${p.minSize}) and maxSize (${p.maxSize}), got ${p.avgSize}`,
    );
  }
  return Object.freeze({ minSize: p.minSize, avgSize: p.avgSize, maxSize: p.maxSize });
}

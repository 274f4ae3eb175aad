// Data and comparisons shared by tests.
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";

/** Deterministic incompressible bytes (xorshift32), fast enough for tens of MiB. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, length);
}

/** Relative path -> SHA-256 of every file under `dir`. */
export async function manifest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    out[relative(dir, file)] = createHash("sha256").update(await fs.readFile(file)).digest("hex");
  }
  return out;
}

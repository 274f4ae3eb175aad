import { Prng } from "./prng.js";
import { TextGenerator, type TextStyle } from "./text.js";

/**
 * File content of a given compressibility: text (3-5x with zstd), random bytes (media and
 * archives: incompressible) or "mixed" binaries (executables, databases, PDFs: about 2x).
 */
export type ContentKind = TextStyle | "random" | "mixed";

export function fillContent(out: Uint8Array, kind: ContentKind, prng: Prng, text: TextGenerator): void {
  if (kind === "random") prng.fill(out);
  else if (kind === "mixed") fillMixed(out, prng, text);
  else text.fill(out, prng, kind);
}

/**
 * Segments like those of a compiled binary: random (machine code, compressed resources), zero
 * padding, embedded strings and repeats of earlier segments (tables, relocations).
 */
function fillMixed(out: Uint8Array, prng: Prng, text: TextGenerator): void {
  let pos = 0;
  while (pos < out.length) {
    const len = Math.min(out.length - pos, prng.logUniform(32, 4096));
    const segment = out.subarray(pos, pos + len);
    const kind = prng.int(8);
    if (kind < 3) prng.fill(segment);
    else if (kind < 5) segment.fill(0);
    else if (kind < 7) text.fill(segment, prng, "prose");
    else if (pos >= len) {
      const from = prng.int(pos - len + 1);
      segment.set(out.subarray(from, from + len));
    } else prng.fill(segment);
    pos += len;
  }
}

/**
 * Seeded xoshiro128** generator. Every random choice in the corpus comes from a Prng keyed by
 * (seed, labels...), so any piece (a row, a file, a day's change set) can be regenerated on its
 * own without replaying the whole sequence that came before it.
 */
export type PrngKey = number | string;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function keyWord(key: PrngKey): number {
  if (typeof key === "number") return key >>> 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const LANE_INIT: readonly [number, number, number, number] = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x85a308d3];

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Keys are hashed into four independent 32-bit lanes, so distinct key tuples do not collide in practice. */
  constructor(...keys: PrngKey[]) {
    let [a, b, c, d] = LANE_INIT;
    for (const key of keys) {
      const k = keyWord(key);
      a = fmix32(Math.imul(a ^ k, 0x9e3779b1) + 1);
      b = fmix32(Math.imul(b ^ k, 0x9e3779b1) + 2);
      c = fmix32(Math.imul(c ^ k, 0x9e3779b1) + 3);
      d = fmix32(Math.imul(d ^ k, 0x9e3779b1) + 4);
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    // An all-zero state would be a fixed point.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next uniform 32-bit unsigned integer. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Integer in [lo, hi] with a log-uniform distribution: sizes spread over orders of magnitude. */
  logUniform(lo: number, hi: number): number {
    return Math.floor(lo * Math.pow(hi / lo, this.float()));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty array");
    return items[this.int(items.length)];
  }

  /**
   * Fills `out` with random bytes, a 32-bit word at a time with the state held in locals (this is
   * the hot path for incompressible content). Words are stored little-endian on every platform.
   */
  fill(out: Uint8Array): void {
    let { a, b, c, d } = this;
    const words = out.byteLength >>> 2;
    const view =
      LITTLE_ENDIAN && (out.byteOffset & 3) === 0 ? new Uint32Array(out.buffer, out.byteOffset, words) : null;
    for (let i = 0; i < words; i++) {
      const r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11);
      if (view !== null) {
        view[i] = r;
      } else {
        const o = i << 2;
        out[o] = r;
        out[o + 1] = r >>> 8;
        out[o + 2] = r >>> 16;
        out[o + 3] = r >>> 24;
      }
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    for (let i = words << 2; i < out.byteLength; i++) out[i] = this.next();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

import type { Backend, ByteRange } from "./backend.js";

/**
 * Reads byte ranges into one buffer it keeps and reuses (when the backend can read into a
 * buffer): each result is valid only until the next read. A restore or check reads the whole
 * repository, and a fresh buffer per range is garbage that piles up faster than it is collected.
 */
export class RangeReader {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly backend: Backend) {}

  async read(key: string, range: ByteRange): Promise<Buffer> {
    if (!this.backend.readInto) return this.backend.get(key, range);
    if (this.buffer.length < range.length) this.buffer = Buffer.allocUnsafe(range.length);
    return this.backend.readInto(key, range, this.buffer);
  }
}

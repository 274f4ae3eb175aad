import fastcdcModule from "fastcdc-wasm";
import { validateChunkerParams, type ChunkerParams } from "./chunker-params.js";

/**
 * Largest buffer handed to the wasm: it never shrinks its memory again, and returns garbage from
 * 2 GiB on.
 */
export const MAX_CDC_BUFFER = 64 * 1024 * 1024;

/**
 * The wasm instance's own exports, beside the get_chunks wrapper the package documents. That
 * wrapper copies its input into the wasm's memory and back out on every call; scanning memory
 * that already lives there needs the raw function. The package is pinned (0.1.0, wasm-bindgen's
 * calling convention: results through a 16-byte slot on the wasm's stack).
 */
interface FastCdcExports {
  memory: { buffer: ArrayBuffer };
  get_chunks(result: number, bytes: number, length: number, minSize: number, avgSize: number, maxSize: number): void;
  __wbindgen_add_to_stack_pointer(delta: number): number;
  __wbindgen_malloc(size: number): number;
  __wbindgen_free(pointer: number, size: number): void;
}

const wasm = (fastcdcModule as unknown as { __wasm: FastCdcExports }).__wasm;

/**
 * A buffer inside the wasm's memory, which the chunker scans in place: a stream copied (or read)
 * into it once is chunked without the two extra copies per call of get_chunks.
 */
export class WasmChunkBuffer {
  private readonly pointer: number;
  private view: Uint8Array<ArrayBuffer>;
  private freed = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0 || capacity > MAX_CDC_BUFFER) {
      throw new RangeError(`chunker buffer of ${capacity} bytes is not within 1 to ${MAX_CDC_BUFFER} bytes`);
    }
    this.pointer = wasm.__wbindgen_malloc(capacity);
    this.view = new Uint8Array(wasm.memory.buffer, this.pointer, capacity);
  }

  /** The buffer's bytes. A cut may grow the wasm's memory, which detaches earlier views: ask again after one. */
  get bytes(): Uint8Array<ArrayBuffer> {
    this.assertLive();
    if (this.view.byteLength === 0) this.view = new Uint8Array(wasm.memory.buffer, this.pointer, this.capacity);
    return this.view;
  }

  /**
   * End offsets of the FastCDC chunks of the buffer's first `length` bytes; the last one is always
   * `length` (the wasm cuts at the end of whatever it is given).
   */
  cutPoints(length: number, params: ChunkerParams): Uint32Array {
    this.assertLive();
    if (length <= 0 || length > this.capacity) throw new RangeError(`cannot chunk ${length} bytes of a ${this.capacity}-byte buffer`);
    // Checked on every call: a bad value would panic the wasm, which stops working after a few
    // thousand panics.
    const { minSize, avgSize, maxSize } = validateChunkerParams(params);
    const result = wasm.__wbindgen_add_to_stack_pointer(-16);
    try {
      wasm.get_chunks(result, this.pointer, length, minSize, avgSize, maxSize);
      const [starts, count] = new Int32Array(wasm.memory.buffer, result, 2);
      // Every chunk's start offset followed by `length`: the leading 0 is dropped.
      const ends = new Uint32Array(wasm.memory.buffer, starts!, count!).slice(1);
      wasm.__wbindgen_free(starts!, count! * 4);
      return ends;
    } finally {
      wasm.__wbindgen_add_to_stack_pointer(16);
    }
  }

  /** Gives the memory back to the wasm's allocator (once: a second free would corrupt it); the buffer is unusable afterwards. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    wasm.__wbindgen_free(this.pointer, this.capacity);
  }

  /** Memory given back may already hold another buffer: reading or chunking it would be someone else's bytes. */
  private assertLive(): void {
    if (this.freed) throw new Error("chunker buffer used after it was freed");
  }
}

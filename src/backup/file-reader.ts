import * as fs from "node:fs/promises";
import { InterruptedError } from "../errors.js";

const READ_SIZE = 1024 * 1024;

/**
 * Reads an open file from the start. One buffer is reused for every read: the consumer (the
 * chunker) copies each read before asking for the next.
 */
export async function* readFile(handle: fs.FileHandle, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let position = 0;
  const buffer = Buffer.allocUnsafe(READ_SIZE);
  for (;;) {
    if (signal?.aborted) throw new InterruptedError();
    const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield bytesRead === READ_SIZE ? buffer : buffer.subarray(0, bytesRead);
  }
}

import { parentPort } from "node:worker_threads";
import { encodeBlob } from "../blob-codec.js";

export interface EncodeRequest {
  seq: number;
  plain: Uint8Array;
  level: number;
}

export interface EncodeResponse {
  seq: number;
  stored?: Uint8Array;
  compression?: number;
  error?: string;
}

// Runs zstd off the main thread: zstd-napi has no async API of its own.
parentPort?.on("message", (request: EncodeRequest) => {
  try {
    const { stored, compression } = encodeBlob(request.plain, request.level);
    const copy = stored === request.plain ? request.plain : new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    const response: EncodeResponse = { seq: request.seq, stored: copy, compression };
    parentPort?.postMessage(response, copy.byteOffset === 0 && copy.byteLength === copy.buffer.byteLength ? [copy.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort?.postMessage({ seq: request.seq, error: (err as Error).message } satisfies EncodeResponse);
  }
});

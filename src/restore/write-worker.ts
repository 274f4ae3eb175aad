import { parentPort } from "node:worker_threads";
import { performWrites, type FileWrite } from "./file-writes.js";

export interface WriteRequest {
  seq: number;
  /** Decoded blobs; handed over, and handed back with the response. */
  memory: Uint8Array;
  writes: FileWrite[];
}

export interface WriteResponse {
  seq: number;
  memory: Uint8Array;
  error?: { message: string; code?: string };
}

// Writes restored files off the main thread, which meanwhile reads and decodes what comes next.
parentPort?.on("message", (request: WriteRequest) => {
  const { seq, memory } = request;
  let response: WriteResponse;
  try {
    performWrites(memory, request.writes);
    response = { seq, memory };
  } catch (err) {
    response = { seq, memory, error: { message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } };
  }
  parentPort?.postMessage(response, [memory.buffer as ArrayBuffer]);
});

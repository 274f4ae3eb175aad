import { parentPort } from "node:worker_threads";
import { CairnError } from "../errors.js";
import { performWrites, type BlobCheck, type FileWrite, type WritesDone } from "./file-writes.js";

export interface WriteRequest {
  seq: number;
  /** Decoded blobs; handed over, and handed back with the response. */
  memory: Uint8Array;
  writes: FileWrite[];
  checks: BlobCheck[];
}

export interface WriteResponse {
  seq: number;
  memory: Uint8Array;
  done?: WritesDone;
  /** `expected`: a CairnError (say, a full disk), as opposed to a bug. */
  error?: { message: string; expected: boolean };
}

/** Files whose metadata waits for their failed blobs (see performWrites). */
const held = new Set<string>();

// Checks and writes restored files off the main thread, which meanwhile reads and decodes what comes next.
parentPort?.on("message", (request: WriteRequest) => {
  const { seq, memory } = request;
  let response: WriteResponse;
  try {
    response = { seq, memory, done: performWrites(memory, request.writes, request.checks, held) };
  } catch (err) {
    response = { seq, memory, error: { message: (err as Error).message, expected: err instanceof CairnError } };
  }
  parentPort?.postMessage(response, [memory.buffer as ArrayBuffer]);
});

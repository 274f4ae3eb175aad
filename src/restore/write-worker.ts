import { parentPort } from "node:worker_threads";
import { CairnError } from "../errors.js";
import { performWrites, type FileWrite, type MetadataProblem } from "./file-writes.js";

export interface WriteRequest {
  seq: number;
  /** Decoded blobs; handed over, and handed back with the response. */
  memory: Uint8Array;
  writes: FileWrite[];
}

export interface WriteResponse {
  seq: number;
  memory: Uint8Array;
  problems?: MetadataProblem[];
  /** `expected`: a CairnError (say, a full disk), as opposed to a bug. */
  error?: { message: string; expected: boolean };
}

// Writes restored files off the main thread, which meanwhile reads and decodes what comes next.
parentPort?.on("message", (request: WriteRequest) => {
  const { seq, memory } = request;
  let response: WriteResponse;
  try {
    const problems = performWrites(memory, request.writes);
    response = problems.length > 0 ? { seq, memory, problems } : { seq, memory };
  } catch (err) {
    response = { seq, memory, error: { message: (err as Error).message, expected: err instanceof CairnError } };
  }
  parentPort?.postMessage(response, [memory.buffer as ArrayBuffer]);
});

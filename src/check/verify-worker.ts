import { parentPort } from "node:worker_threads";
import type { Id } from "../store/id.js";
import type { PackEntry } from "../store/pack/pack-format.js";
import { verifyPackBytes, type BytesVerdict } from "./pack-verifier.js";

export interface VerifyRequest {
  seq: number;
  packId: Id;
  /** The pack's bytes are the first `length` of these; handed over, and handed back with the response. */
  bytes: Uint8Array;
  length: number;
  entries: PackEntry[];
}

export interface VerifyResponse {
  seq: number;
  bytes: Uint8Array;
  verdict?: BytesVerdict;
  error?: string;
}

// Verifies one pack's bytes off the main thread (see PackVerifier).
parentPort?.on("message", (request: VerifyRequest) => {
  const { seq, bytes } = request;
  let response: VerifyResponse;
  try {
    response = { seq, bytes, verdict: verifyPackBytes(request.packId, bytes.subarray(0, request.length), request.entries) };
  } catch (err) {
    response = { seq, bytes, error: (err as Error).message };
  }
  parentPort?.postMessage(response, [bytes.buffer as ArrayBuffer]);
});

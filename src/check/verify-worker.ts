import { parentPort } from "node:worker_threads";
import type { Id } from "../store/id.js";
import type { PackEntry } from "../store/pack/pack-format.js";
import { verifyPackBytes, type BytesVerdict } from "./pack-verifier.js";

export interface VerifyRequest {
  seq: number;
  packId: Id;
  bytes: Uint8Array;
  entries: PackEntry[];
}

export interface VerifyResponse {
  seq: number;
  verdict?: BytesVerdict;
  error?: string;
}

// Verifies one pack's bytes off the main thread (see PackVerifier).
parentPort?.on("message", (request: VerifyRequest) => {
  try {
    parentPort?.postMessage({ seq: request.seq, verdict: verifyPackBytes(request.packId, request.bytes, request.entries) } satisfies VerifyResponse);
  } catch (err) {
    parentPort?.postMessage({ seq: request.seq, error: (err as Error).message } satisfies VerifyResponse);
  }
});

import { chunkStream } from "../chunker/index.js";
import type { Id } from "../store/id.js";
import type { BlobSink } from "./blob-sink.js";

export interface SavedContent {
  content: Id[];
  size: number;
}

/** Chunks being hashed and stored at once for one stream: enough to keep every worker busy. */
const CHUNKS_IN_FLIGHT = 8;

/**
 * Chunks a byte stream, stores every chunk the repository does not have yet, and returns the
 * content list. Several chunks are in flight at once (hashing happens off the main thread);
 * the list keeps the stream's order.
 */
export async function saveContent(repo: BlobSink, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, onBytes?: (n: number) => void): Promise<SavedContent> {
  const content: Id[] = [];
  const inFlight: Promise<Id>[] = [];
  let size = 0;
  try {
    for await (const chunk of chunkStream(source, repo.config.chunker)) {
      const length = chunk.length;
      const saved = repo.saveBlob("data", chunk).then((r) => r.id);
      // Handled here so a failure while an earlier chunk is awaited is not "unhandled"; it is rethrown below.
      saved.catch(() => undefined);
      inFlight.push(saved);
      size += length;
      onBytes?.(length);
      if (inFlight.length >= CHUNKS_IN_FLIGHT) content.push(await inFlight.shift()!);
    }
    content.push(...(await Promise.all(inFlight)));
  } catch (err) {
    // Let the chunks already handed over settle before the caller moves on.
    await Promise.allSettled(inFlight);
    throw err;
  }
  return { content, size };
}

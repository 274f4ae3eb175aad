import { chunkStream } from "../chunker/index.js";
import type { Id } from "../store/id.js";
import type { BlobSink } from "./blob-sink.js";

export interface SavedContent {
  content: Id[];
  size: number;
}

/** Chunks a byte stream, stores every chunk the repository does not have yet, and returns the content list. */
export async function saveContent(repo: BlobSink, source: AsyncIterable<Uint8Array>, onBytes?: (n: number) => void): Promise<SavedContent> {
  const content: Id[] = [];
  let size = 0;
  for await (const chunk of chunkStream(source, repo.config.chunker)) {
    const { id } = await repo.saveBlob("data", chunk);
    content.push(id);
    size += chunk.length;
    onBytes?.(chunk.length);
  }
  return { content, size };
}

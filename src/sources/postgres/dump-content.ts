import type { BlobSink } from "../../backup/blob-sink.js";
import { saveContent, type SavedContent } from "../../backup/file-saver.js";

/** The `\restrict KEY` line comes right after pg_dump's few header lines. */
const HEAD_LIMIT = 64 * 1024;
/** The `\unrestrict KEY` line is the dump's last line but for blank ones. */
const TAIL_HOLD = 64 * 1024;

const RESTRICT = Buffer.from("\\restrict ");
const UNRESTRICT = Buffer.from("\n\\unrestrict ");

async function* only(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** Offset just past the `\restrict KEY` line near the start, or 0 when there is none. */
function restrictLineEnd(head: Buffer): number {
  const at = head.subarray(0, RESTRICT.length).equals(RESTRICT) ? 0 : head.indexOf(Buffer.concat([Buffer.from("\n"), RESTRICT]));
  if (at < 0) return 0;
  const end = head.indexOf(0x0a, at + 1);
  return end < 0 ? 0 : end + 1;
}

/**
 * Saves a plain-format dump. pg_dump (15.14, 16.10, 17.6 and later) brackets the SQL with
 * `\restrict KEY` … `\unrestrict KEY`, where KEY is random for every dump. Chunked as one stream,
 * the chunks holding the two lines (often megabytes) would be new every day, even for a database
 * that did not change; so the two lines are stored as small chunks of their own, and the SQL
 * between them deduplicates as if the key were not there. The bytes stored are exactly the dump's.
 */
export async function saveDumpContent(repo: BlobSink, source: AsyncIterable<Uint8Array>, onBytes?: (n: number) => void): Promise<SavedContent> {
  const input = source[Symbol.asyncIterator]();
  let ended = false;
  const read = async (): Promise<Buffer | undefined> => {
    const next = await input.next();
    if (next.done) ended = true;
    return next.done ? undefined : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
  };

  const parts: Buffer[] = [];
  let held = 0;
  while (!ended && held < HEAD_LIMIT) {
    const data = await read();
    if (data) parts.push(data);
    held += data?.length ?? 0;
    if (restrictLineEnd(Buffer.concat(parts)) > 0) break;
  }
  const head = Buffer.concat(parts);
  const cut = restrictLineEnd(head);
  const saved: SavedContent[] = [];
  if (cut > 0) saved.push(await saveContent(repo, only(head.subarray(0, cut)), onBytes));

  let tail: Buffer | undefined;
  // The body, always holding back its last TAIL_HOLD bytes until the end is known.
  async function* body(): AsyncGenerator<Buffer> {
    let pending = head.subarray(cut);
    for (;;) {
      if (pending.length > TAIL_HOLD) {
        yield pending.subarray(0, pending.length - TAIL_HOLD);
        pending = pending.subarray(pending.length - TAIL_HOLD);
      }
      const data = ended ? undefined : await read();
      if (!data) break;
      pending = Buffer.concat([pending, data]);
    }
    const at = pending.lastIndexOf(UNRESTRICT);
    if (at < 0) {
      yield pending;
      return;
    }
    yield pending.subarray(0, at + 1);
    tail = pending.subarray(at + 1);
  }
  saved.push(await saveContent(repo, body(), onBytes));
  if (tail) saved.push(await saveContent(repo, only(tail), onBytes));
  return { content: saved.flatMap((s) => s.content), size: saved.reduce((n, s) => n + s.size, 0) };
}

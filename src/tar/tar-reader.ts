import { CairnError } from "../errors.js";
import { BLOCK, XATTR_PREFIX, headerChecksum, paddingFor, parsePaxTime, type TarEntryType, type TarHeader } from "./tar-header.js";

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; read it (or not) before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

/** An entry whose type cairn does not store (GNU sparse files, volume labels…), skipped by readers. */
export interface UnsupportedTarEntry {
  unsupported: string;
  path: Buffer;
}

/** Pulls exact byte counts out of a stream of arbitrarily sized chunks. */
class ByteReader {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.length < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.chunks.push(chunk);
        this.length += chunk.length;
      }
    }
  }

  /** Up to `max` bytes (at least one unless the stream has ended). */
  private take(max: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length <= max) {
      this.chunks.shift();
      this.length -= first.length;
      return first;
    }
    this.chunks[0] = first.subarray(max);
    this.length -= max;
    return first.subarray(0, max);
  }

  /** Exactly n bytes, or undefined when the stream ended before the first of them. */
  async exact(n: number): Promise<Buffer | undefined> {
    await this.fill(n);
    if (this.length === 0) return undefined;
    if (this.length < n) throw new CairnError("tar: archive ends in the middle of an entry");
    const parts: Buffer[] = [];
    let missing = n;
    while (missing > 0) {
      const part = this.take(missing);
      parts.push(part);
      missing -= part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async *stream(n: number): AsyncGenerator<Buffer> {
    let missing = n;
    while (missing > 0) {
      await this.fill(1);
      if (this.length === 0) throw new CairnError("tar: archive ends in the middle of an entry");
      const part = this.take(missing);
      missing -= part.length;
      yield part;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) void _;
  }
}

function cString(bytes: Buffer): Buffer {
  const end = bytes.indexOf(0);
  return end === -1 ? bytes : bytes.subarray(0, end);
}

/** A numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function numeric(bytes: Buffer): number {
  if (bytes[0]! & 0x80) {
    let value = BigInt(bytes[0]! & 0x7f);
    for (let i = 1; i < bytes.length; i++) value = (value << 8n) | BigInt(bytes[i]!);
    return Number(value);
  }
  const text = cString(bytes).toString("latin1").trim();
  return text === "" ? 0 : parseInt(text, 8);
}

/** Parses "<length> <key>=<value>\n" records; values are kept as raw bytes. */
function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(data.subarray(offset, space).toString("latin1"), 10);
    if (!(length > 0) || offset + length > data.length) throw new CairnError("tar: malformed PAX header");
    const record = data.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals !== -1) records.set(record.subarray(0, equals).toString("utf8"), Buffer.from(record.subarray(equals + 1)));
    offset += length;
  }
  return records;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "chardev",
  "4": "blockdev",
  "5": "dir",
  "6": "fifo",
};

/**
 * Reads a tar stream entry by entry, applying PAX (local and global) and GNU long-name records
 * to the entries they describe. Entries of other types are yielded as `unsupported`.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry | UnsupportedTarEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let globalPax = new Map<string, Buffer>();
  let localPax = new Map<string, Buffer>();
  let longPath: Buffer | undefined;
  let longLink: Buffer | undefined;
  for (;;) {
    const block = await reader.exact(BLOCK);
    if (!block || block.every((b) => b === 0)) return;
    if (numeric(block.subarray(148, 156)) !== headerChecksum(block)) throw new CairnError("tar: header checksum mismatch (not a tar archive, or damaged)");
    const flag = String.fromCharCode(block[156]!);
    let size = numeric(block.subarray(124, 136));
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      const data = (await reader.exact(size + paddingFor(size)))?.subarray(0, size) ?? Buffer.alloc(0);
      if (flag === "x") localPax = parsePax(data);
      else if (flag === "g") globalPax = new Map([...globalPax, ...parsePax(data)]);
      else if (flag === "L") longPath = cString(data);
      else longLink = cString(data);
      continue;
    }
    const pax = new Map([...globalPax, ...localPax]);
    localPax = new Map();
    const ustar = block.subarray(257, 263).toString("latin1") === "ustar\0";
    const name = cString(block.subarray(0, 100));
    const prefix = ustar ? cString(block.subarray(345, 500)) : Buffer.alloc(0);
    const path = pax.get("path") ?? longPath ?? (prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), name]) : name);
    const linkTarget = pax.get("linkpath") ?? longLink ?? cString(block.subarray(157, 257));
    longPath = longLink = undefined;
    const paxSize = pax.get("size");
    if (paxSize) size = Number(paxSize.toString("latin1"));
    let type = TYPES[flag];
    if (type === "file" && path[path.length - 1] === 0x2f && flag !== "7") type = "dir";
    if (!type) {
      await reader.skip(size + paddingFor(size));
      yield { unsupported: `entry type '${flag}'`, path: Buffer.from(path) };
      continue;
    }
    const mtime = pax.get("mtime");
    const header: TarHeader = {
      path: Buffer.from(path),
      type,
      mode: numeric(block.subarray(100, 108)) & 0o7777,
      uid: pax.has("uid") ? Number(pax.get("uid")!.toString("latin1")) : numeric(block.subarray(108, 116)),
      gid: pax.has("gid") ? Number(pax.get("gid")!.toString("latin1")) : numeric(block.subarray(116, 124)),
      uname: pax.get("uname")?.toString("utf8") ?? cString(block.subarray(265, 297)).toString("utf8"),
      gname: pax.get("gname")?.toString("utf8") ?? cString(block.subarray(297, 329)).toString("utf8"),
      size: type === "file" ? size : 0,
      mtimeNs: (mtime && parsePaxTime(mtime.toString("latin1"))) ?? BigInt(numeric(block.subarray(136, 148))) * 1_000_000_000n,
      linkTarget: Buffer.from(linkTarget),
      devMajor: numeric(block.subarray(329, 337)),
      devMinor: numeric(block.subarray(337, 345)),
      xattrs: [...pax].filter(([key]) => key.startsWith(XATTR_PREFIX)).map(([key, value]) => ({ name: key.slice(XATTR_PREFIX.length), value })),
    };
    let remaining = size;
    const body = (async function* () {
      for await (const part of reader.stream(remaining)) {
        remaining -= part.length;
        yield part;
      }
    })();
    yield { header, body };
    await reader.skip(remaining + paddingFor(size));
  }
}

export function isUnsupported(entry: TarEntry | UnsupportedTarEntry): entry is UnsupportedTarEntry {
  return "unsupported" in entry;
}

import { BLOCK, TYPE_FLAGS, XATTR_PREFIX, formatPaxTime, headerChecksum, paddingFor, type TarHeader } from "./tar-header.js";

/** What a writer needs to describe one entry; unset fields default to empty. */
export type TarWriteHeader = Pick<TarHeader, "path" | "type" | "mode" | "uid" | "gid" | "mtimeNs"> & Partial<Omit<TarHeader, "path" | "type" | "mode" | "uid" | "gid" | "mtimeNs">>;

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "latin1");
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), "latin1"), body]);
}

/** Splits a path over ustar's prefix (155 bytes) and name (100 bytes) fields, if it fits. */
function splitUstarPath(path: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (path.length <= 100) return { prefix: Buffer.alloc(0), name: path };
  for (let i = path.length - 1; i >= 0; i--) {
    if (path[i] !== 0x2f) continue;
    if (path.length - i - 1 > 100) return undefined;
    if (i <= 155 && i > 0) return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return undefined;
}

function ustarBlock(h: TarWriteHeader, path: Buffer, flag: string, size: number, pathFits: { prefix: Buffer; name: Buffer } | undefined): Buffer {
  const block = Buffer.alloc(BLOCK);
  const fields = pathFits ?? { prefix: Buffer.alloc(0), name: path.subarray(0, 100) };
  fields.name.copy(block, 0, 0, 100);
  writeOctal(block, 100, 8, h.mode & 0o7777);
  writeOctal(block, 108, 8, Math.min(h.uid, MAX_OCTAL_7));
  writeOctal(block, 116, 8, Math.min(h.gid, MAX_OCTAL_7));
  writeOctal(block, 124, 12, Math.min(size, MAX_OCTAL_11));
  const seconds = h.mtimeNs / 1_000_000_000n;
  writeOctal(block, 136, 12, Number(seconds < 0n ? 0n : seconds > BigInt(MAX_OCTAL_11) ? BigInt(MAX_OCTAL_11) : seconds));
  block.write(flag, 156, 1, "latin1");
  (h.linkTarget ?? Buffer.alloc(0)).copy(block, 157, 0, 100);
  block.write("ustar\0" + "00", 257, 8, "latin1");
  block.write(h.uname ?? "", 265, 32, "utf8");
  block.write(h.gname ?? "", 297, 32, "utf8");
  writeOctal(block, 329, 8, h.devMajor ?? 0);
  writeOctal(block, 337, 8, h.devMinor ?? 0);
  fields.prefix.copy(block, 345, 0, 155);
  writeOctal(block, 148, 7, headerChecksum(block));
  block[155] = 0x20;
  return block;
}

/**
 * The header blocks of one entry: a PAX extended header first when something does not fit
 * ustar (long names, large ids or sizes, sub-second or out-of-range times, xattrs), then the
 * ustar header itself. The caller writes the data and `paddingFor(size)` zero bytes after it.
 */
export function encodeTarHeader(h: TarWriteHeader): Buffer {
  const size = h.type === "file" ? (h.size ?? 0) : 0;
  const path = h.type === "dir" && h.path[h.path.length - 1] !== 0x2f ? Buffer.concat([h.path, Buffer.from("/")]) : h.path;
  const link = h.linkTarget ?? Buffer.alloc(0);
  const records: Buffer[] = [];
  const pathFits = splitUstarPath(path);
  if (!pathFits) records.push(paxRecord("path", path));
  if (link.length > 100) records.push(paxRecord("linkpath", link));
  if (h.uid > MAX_OCTAL_7) records.push(paxRecord("uid", Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL_7) records.push(paxRecord("gid", Buffer.from(String(h.gid))));
  if (size > MAX_OCTAL_11) records.push(paxRecord("size", Buffer.from(String(size))));
  if (Buffer.byteLength(h.uname ?? "") > 32) records.push(paxRecord("uname", Buffer.from(h.uname!)));
  if (Buffer.byteLength(h.gname ?? "") > 32) records.push(paxRecord("gname", Buffer.from(h.gname!)));
  if (h.mtimeNs % 1_000_000_000n !== 0n || h.mtimeNs < 0n || h.mtimeNs / 1_000_000_000n > BigInt(MAX_OCTAL_11)) {
    records.push(paxRecord("mtime", Buffer.from(formatPaxTime(h.mtimeNs))));
  }
  for (const x of h.xattrs ?? []) records.push(paxRecord(XATTR_PREFIX + x.name, x.value));
  const main = ustarBlock(h, path, TYPE_FLAGS[h.type], size, pathFits);
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const paxName = Buffer.from("PaxHeaders/" + path.subarray(path.lastIndexOf(0x2f, path.length - 2) + 1).toString("latin1").slice(0, 80), "latin1");
  const paxHeader = ustarBlock({ ...h, path: paxName, linkTarget: Buffer.alloc(0), type: "file" }, paxName, "x", data.length, { prefix: Buffer.alloc(0), name: paxName });
  return Buffer.concat([paxHeader, data, Buffer.alloc(paddingFor(data.length)), main]);
}

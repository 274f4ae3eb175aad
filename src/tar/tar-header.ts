/**
 * Tar headers as cairn reads and writes them: ustar with PAX extended records, which is what
 * the Docker engine produces (Go's archive/tar) and accepts.
 *
 * We carry our own small codec instead of tar-stream because tar-stream decodes PAX records as
 * UTF-8 text, which corrupts binary values such as the SCHILY.xattr.security.capability record
 * Docker writes for files with capabilities; a restored `ping` would lose them.
 */
export type TarEntryType = "file" | "hardlink" | "symlink" | "chardev" | "blockdev" | "dir" | "fifo";

export interface TarXattr {
  name: string;
  value: Buffer;
}

export interface TarHeader {
  /** The entry's path, raw bytes as stored (relative, "/"-separated; directories may end in "/"). */
  path: Buffer;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Length of the entry's data (files only; 0 otherwise). */
  size: number;
  mtimeNs: bigint;
  /** Symlink target, or for hard links the path of the entry linked to. */
  linkTarget: Buffer;
  devMajor: number;
  devMinor: number;
  xattrs: TarXattr[];
}

export const BLOCK = 512;

/** PAX record key prefix for extended attributes (star, GNU tar, Go and Docker all use it). */
export const XATTR_PREFIX = "SCHILY.xattr.";

export const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  chardev: "3",
  blockdev: "4",
  dir: "5",
  fifo: "6",
};

export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Sum of the header bytes with the checksum field counted as spaces. */
export function headerChecksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** Linux's dev_t encoding, as stat's st_rdev and the tree node's rdev carry it. */
export function makeDev(major: number, minor: number): number {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return Number(((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) | ((mi & 0xffffff00n) << 12n));
}

export function splitDev(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)),
  };
}

const NS_PER_SECOND = 1_000_000_000n;

/** "1700000000.5" (PAX time) to nanoseconds. */
export function parsePaxTime(text: string): bigint | undefined {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) return undefined;
  const [, sign, whole, fraction = ""] = match;
  const ns = BigInt(whole!) * NS_PER_SECOND + BigInt(fraction.slice(0, 9).padEnd(9, "0"));
  return sign ? -ns : ns;
}

export function formatPaxTime(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const fraction = abs % NS_PER_SECOND;
  const text = fraction === 0n ? `${abs / NS_PER_SECOND}` : `${abs / NS_PER_SECOND}.${fraction.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return negative ? `-${text}` : text;
}

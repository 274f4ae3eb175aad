import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { expandGlob } from "./expand-glob.js";
import { decodeRune } from "./glob-match.js";

export interface FilesFromFlags {
  /** Lists of glob patterns, one per line. */
  filesFrom: string[];
  /** Lists of names, one per line, taken as they are. */
  filesFromVerbatim: string[];
  /** Lists of names each ended by a NUL byte (`find -print0`). */
  filesFromRaw: string[];
}

const STDIN = "-";

/**
 * The paths the --files-from lists name, as restic reads them: a list in UTF-16 or with a
 * byte-order mark is read as text, as restic does; in --files-from each line is a glob pattern
 * (`#` starts a comment; blank lines and the white space around a line are ignored) and one
 * that matches nothing is reported through `warn` and skipped, as is a matching name that is
 * not UTF-8 (the paths of a backup are text); --files-from-verbatim and --files-from-raw
 * names are taken as they are, so they must exist like the paths given as arguments. `-` reads
 * standard input. Lines are limited to 64 KiB, as restic's are.
 */
export async function filesFromLists(flags: FilesFromFlags, warn: (message: string) => void): Promise<string[]> {
  const lists = [...flags.filesFrom, ...flags.filesFromVerbatim, ...flags.filesFromRaw];
  if (lists.filter((list) => list === STDIN).length > 1) throw new UsageError("standard input (-) can be read by one --files-from option only");
  const paths: string[] = [];
  for (const list of flags.filesFrom) {
    for (const line of lines(await readList("--files-from", list), "--files-from", list)) {
      const pattern = trimSpace(line);
      if (pattern.length === 0 || pattern[0] === 0x23) continue;
      let matched = 0;
      for (const match of await expandGlob(pattern)) {
        const text = match.toString("utf8");
        if (!Buffer.from(text, "utf8").equals(match)) {
          warn(`--files-from ${list}: ${text}: the name is not UTF-8, skipped (back up the directory holding it instead)`);
          continue;
        }
        paths.push(text);
        matched++;
      }
      if (matched === 0) warn(`--files-from ${list}: ${pattern.toString("utf8")} matches nothing, skipped`);
    }
  }
  for (const list of flags.filesFromVerbatim) {
    for (const line of lines(await readList("--files-from-verbatim", list), "--files-from-verbatim", list)) if (line.length > 0) paths.push(line.toString("utf8"));
  }
  for (const list of flags.filesFromRaw) paths.push(...nulTerminated(await readList("--files-from-raw", list), list));
  return paths;
}

async function readList(option: string, list: string): Promise<Buffer> {
  try {
    return list === STDIN ? await readStdin() : await readFile(list);
  } catch (err) {
    throw new UsageError(`${option} ${list}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Longest line restic reads (bufio.Scanner's default): longer is an error there, and here. */
const MAX_LINE = 64 * 1024;

/**
 * The lines of a list, without their ending (a CRLF's carriage return included), as bytes:
 * UTF-16 with a byte-order mark is converted, and a UTF-8 byte-order mark dropped, as restic's
 * textfile.Read does.
 */
function lines(data: Buffer, option: string, list: string): Buffer[] {
  const text = asUtf8(data);
  const out: Buffer[] = [];
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    if (end - start > MAX_LINE) throw new UsageError(`${option} ${list}: a line is longer than 64 KiB`);
    const line = text.subarray(start, end);
    out.push(line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line);
    start = end + 1;
  }
  return out;
}

function asUtf8(data: Buffer): Buffer {
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return data.subarray(3);
  if (data[0] === 0xff && data[1] === 0xfe) return Buffer.from(data.subarray(2).toString("utf16le"), "utf8");
  if (data[0] === 0xfe && data[1] === 0xff) return Buffer.from(Buffer.from(data.subarray(2)).swap16().toString("utf16le"), "utf8");
  return data;
}

/** Unicode white space, as Go's unicode.IsSpace has it (strings.TrimSpace). */
function isSpace(rune: number): boolean {
  return (rune >= 0x09 && rune <= 0x0d) || rune === 0x20 || rune === 0x85 || rune === 0xa0 || rune === 0x1680 || (rune >= 0x2000 && rune <= 0x200a) || rune === 0x2028 || rune === 0x2029 || rune === 0x202f || rune === 0x205f || rune === 0x3000;
}

/** Go's strings.TrimSpace on bytes: white space characters at either end go; anything not UTF-8 stays. */
function trimSpace(line: Buffer): Buffer {
  let start = 0;
  let end = 0;
  for (let at = 0; at < line.length; ) {
    const [rune, width] = decodeRune(line, at);
    at += width;
    if (!isSpace(rune)) end = at;
    else if (end === 0) start = at;
  }
  return end === 0 ? line.subarray(0, 0) : line.subarray(start, end);
}

function nulTerminated(data: Buffer, list: string): string[] {
  if (data.length === 0) return [];
  if (data[data.length - 1] !== 0) throw new UsageError(`--files-from-raw ${list}: the last name is not ended by a NUL byte`);
  const names = data.subarray(0, -1).toString("utf8").split("\0");
  if (names.includes("")) throw new UsageError(`--files-from-raw ${list}: an empty name in the list`);
  return names;
}

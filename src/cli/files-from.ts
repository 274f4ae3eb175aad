import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { expandGlob } from "./expand-glob.js";

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
 * The paths the --files-from lists name, as restic reads them: in --files-from each line is a
 * glob pattern (`#` starts a comment; blank lines and surrounding spaces are ignored) and one
 * that matches nothing is reported through `warn` and skipped; --files-from-verbatim and
 * --files-from-raw names are taken as they are, so they must exist like the paths given as
 * arguments. `-` reads standard input.
 */
export async function filesFromLists(flags: FilesFromFlags, warn: (message: string) => void): Promise<string[]> {
  const lists = [...flags.filesFrom, ...flags.filesFromVerbatim, ...flags.filesFromRaw];
  if (lists.filter((list) => list === STDIN).length > 1) throw new UsageError("standard input (-) can be read by one --files-from option only");
  const paths: string[] = [];
  for (const list of flags.filesFrom) {
    for (const line of lines(await readList("--files-from", list))) {
      const pattern = line.trim();
      if (pattern === "" || pattern.startsWith("#")) continue;
      const matches = await expandGlob(pattern, (path) => warn(`--files-from ${list}: ${path}: the name is not UTF-8, skipped (back up the directory holding it instead)`));
      if (matches.length === 0) warn(`--files-from ${list}: ${pattern} matches nothing, skipped`);
      paths.push(...matches);
    }
  }
  for (const list of flags.filesFromVerbatim) paths.push(...lines(await readList("--files-from-verbatim", list)).filter((line) => line !== ""));
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

/** Lines without their ending (a CRLF's carriage return included). */
function lines(text: Buffer): string[] {
  return text.toString("utf8").split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
}

function nulTerminated(data: Buffer, list: string): string[] {
  if (data.length === 0) return [];
  if (data[data.length - 1] !== 0) throw new UsageError(`--files-from-raw ${list}: the last name is not ended by a NUL byte`);
  const names = data.subarray(0, -1).toString("utf8").split("\0");
  if (names.includes("")) throw new UsageError(`--files-from-raw ${list}: an empty name in the list`);
  return names;
}

// Helpers for the check, repair and crash suites: deterministic content, a look inside a
// repository through the library, and byte-level tampering.
import { createCipheriv, createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { join, relative } from "node:path";
import type { Id } from "../../src/store/id.js";
import type { BlobLocation } from "../../src/store/index/blob-location.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { walkTree } from "../../src/store/tree/tree-walker.js";

/** Incompressible bytes that are the same on every run (AES-CTR keystream of a seed). */
export function seededBytes(length: number, seed: string): Buffer {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

export interface SnapshotFile {
  snapshot: Id;
  path: string;
  content: Id[];
  size: number;
}

export interface SnapshotDir {
  snapshot: Id;
  path: string;
  tree: Id;
}

export interface RepositoryView {
  snapshots: { id: Id; time: string; tree: Id; original?: Id }[];
  files: SnapshotFile[];
  dirs: SnapshotDir[];
  locations: Map<Id, BlobLocation>;
}

/** Everything the snapshots reference, read through the library (the repository is closed again after). */
export async function inspectRepository(repoPath: string): Promise<RepositoryView> {
  const repo = await openLocalRepository(repoPath);
  try {
    const view: RepositoryView = { snapshots: [], files: [], dirs: [], locations: new Map() };
    const locate = (id: Id) => {
      const location = repo.lookupBlob(id);
      if (location) view.locations.set(id, location);
    };
    for (const s of await repo.listSnapshots()) {
      view.snapshots.push({ id: s.id, time: s.time, tree: s.tree, ...(s.original ? { original: s.original } : {}) });
      locate(s.tree);
      for await (const { path, node } of walkTree(repo, s.tree)) {
        if (node.type === "file") {
          view.files.push({ snapshot: s.id, path, content: node.content ?? [], size: node.size ?? 0 });
          for (const id of node.content ?? []) locate(id);
        } else if (node.type === "dir") {
          view.dirs.push({ snapshot: s.id, path, tree: node.subtree! });
          locate(node.subtree!);
        }
      }
    }
    return view;
  } finally {
    await repo.close();
  }
}

export function packPath(repoPath: string, packId: Id): string {
  return join(repoPath, "data", packId.slice(0, 2), packId);
}

export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await fs.open(file, "r+");
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0]! ^= 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Every regular file below `dir`, by path relative to it. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.set(relative(dir, full), await fs.readFile(full));
    }
  };
  await walk(dir);
  return files;
}

/** Every object file below `dir` (recursively) with its size. */
export async function listFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.push({ path: full, size: (await fs.stat(full)).size });
    }
  };
  await walk(dir);
  return out;
}

export interface JsonFinding {
  message_type: "finding";
  level: "error" | "warning";
  kind: string;
  message: string;
  pack?: string;
  blob?: string;
  snapshot?: string;
  path?: string;
  index_file?: string;
}

export function parseJsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function findingsOf(stdout: string): JsonFinding[] {
  return parseJsonLines(stdout).filter((r) => r.message_type === "finding") as unknown as JsonFinding[];
}

/** The paths a restore named as damaged (`cairn: damaged: PATH: reason` on stderr). */
export function damagedPaths(stderr: string): string[] {
  return stderr
    .split("\n")
    .map((line) => /^cairn: damaged: (.*?): /.exec(line)?.[1])
    .filter((p): p is string => p !== undefined)
    .sort();
}

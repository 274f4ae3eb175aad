// Property: any tree of files, directories and symlinks comes back from backup + restore
// byte-identical, with the same modes and times (to the nanosecond where utimensat is
// reachable, which it is on Linux: what we observe there is exact nanosecond equality).
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { PathSource } from "../../src/backup/path-source.js";
import type { ChunkerParams } from "../../src/chunker/index.js";
import { setFileTimes } from "../../src/platform/file-times.js";
import { libc } from "../../src/platform/libc.js";
import { restoreSnapshot } from "../../src/restore/restorer.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { findNode, walkTree } from "../../src/store/tree/tree-walker.js";
import { pastClockTick } from "../support/clock-tick.js";

const KiB = 1024;
const CHUNKER: ChunkerParams = { minSize: 1 * KiB, avgSize: 4 * KiB, maxSize: 16 * KiB };
/** Without utimensat, times go through fs.lutimes, which keeps whole microseconds. */
const TIME_PRECISION_NS = libc() ? 1n : 1000n;

interface FileSpec {
  kind: "file";
  name: Buffer;
  size: number;
  fill: "random" | "zeros" | "repeat";
  /** Files with the same seed share a prefix, so chunks deduplicate across files. */
  seed: number;
  mode: number;
  mtime: bigint;
  atime: bigint;
}
interface LinkSpec {
  kind: "symlink";
  name: Buffer;
  target: Buffer;
  mtime: bigint;
}
interface DirSpec {
  kind: "dir";
  name: Buffer;
  mode: number;
  mtime: bigint;
  children: Spec[];
}
type Spec = FileSpec | LinkSpec | DirSpec;

const CHARS = [..."abcXYZ019 -_.~'$é日本語ßΩ😀🏔️\u0301\u200b｡"];
const utf8Name = fc
  .string({ unit: fc.constantFrom(...CHARS), minLength: 1, maxLength: 12 })
  .filter((s) => s !== "." && s !== "..")
  .map((s) => Buffer.from(s));
/** Arbitrary bytes (mostly not UTF-8), minus the two a name cannot hold. */
const rawName = fc
  .uint8Array({ minLength: 1, maxLength: 8 })
  .map((bytes) => Buffer.from(bytes.map((b) => (b === 0x2f || b === 0 ? 0x5f : b))))
  .filter((b) => !b.equals(Buffer.from(".")) && !b.equals(Buffer.from("..")));
const name = fc.oneof({ weight: 5, arbitrary: utf8Name }, { weight: 1, arbitrary: rawName });

const { minSize: MIN, maxSize: MAX } = CHUNKER;
const size = fc.oneof(
  fc.constantFrom(0, 1, MIN - 1, MIN, MIN + 1, MAX - 1, MAX, MAX + 1, 2 * MAX, 3 * MAX + 7),
  fc.integer({ min: 0, max: 5 * MAX }),
);
// 1901 to 2100, nanoseconds included: pre-1970 times are negative.
const time = fc.bigInt({ min: -2_147_483_648_000_000_000n, max: 4_102_444_800_999_999_999n });

const file: fc.Arbitrary<FileSpec> = fc.record({
  kind: fc.constant("file" as const),
  name,
  size,
  fill: fc.constantFrom("random" as const, "zeros" as const, "repeat" as const),
  seed: fc.nat(3),
  mode: fc.constantFrom(0o644, 0o600, 0o755, 0o400, 0o640, 0o4755, 0o2750, 0o1644),
  mtime: time,
  atime: time,
});
const symlink: fc.Arbitrary<LinkSpec> = fc.record({
  kind: fc.constant("symlink" as const),
  name,
  target: fc.oneof(name, fc.constantFrom(Buffer.from("/etc/passwd"), Buffer.from("../x/y"), Buffer.from("/nonexistent/dangling"))),
  mtime: time,
});
const children = (entry: fc.Arbitrary<Spec>) => fc.uniqueArray(entry, { maxLength: 6, selector: (s) => s.name.toString("latin1") });

const { tree } = fc.letrec<{ tree: DirSpec; entry: Spec }>((tie) => ({
  entry: fc.oneof({ maxDepth: 3, depthIdentifier: "tree" }, file, file, symlink, tie("tree")),
  tree: fc.record({
    kind: fc.constant("dir" as const),
    name,
    mode: fc.constantFrom(0o755, 0o700, 0o750, 0o1777, 0o2775),
    mtime: time,
    children: children(tie("entry")),
  }),
}));

function content(spec: FileSpec): Buffer {
  if (spec.fill === "zeros") return Buffer.alloc(spec.size);
  const random = createHash("sha512");
  const block = Buffer.alloc(spec.fill === "repeat" ? 3000 : Math.max(spec.size, 64));
  // A hash chain: deterministic, incompressible, and equal prefixes for equal seeds.
  let state = createHash("sha512").update(`seed ${spec.seed}`).digest();
  for (let at = 0; at < block.length; at += state.length) {
    state = random.copy().update(state).digest();
    state.copy(block, at);
  }
  if (spec.fill === "random") return block.subarray(0, spec.size);
  const out = Buffer.alloc(spec.size);
  for (let at = 0; at < spec.size; at += block.length) block.copy(out, at);
  return out;
}

const path = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from("/"), p])));

/** Creates a spec under `dir`; directory times are set last, after their children. */
async function materialize(dir: Buffer, spec: Spec): Promise<void> {
  const at = path(dir, spec.name);
  switch (spec.kind) {
    case "file":
      await fs.writeFile(at, content(spec));
      await fs.chmod(at, spec.mode);
      await setFileTimes(at, spec.atime, spec.mtime);
      return;
    case "symlink":
      await fs.symlink(spec.target, at);
      await setFileTimes(at, spec.mtime, spec.mtime);
      return;
    case "dir":
      await fs.mkdir(at);
      for (const child of spec.children) await materialize(at, child);
      await fs.chmod(at, spec.mode);
      await setFileTimes(at, spec.mtime, spec.mtime);
  }
}

interface Observed {
  type: string;
  mode: number;
  mtime: bigint;
  atime?: bigint;
  size?: number;
  sha256?: string;
  target?: string;
}

const display = (p: Buffer) => (Buffer.from(p.toString("utf8")).equals(p) ? p.toString("utf8") : `hex:${p.toString("hex")}`);
const truncateTime = (ns: bigint) => ns - (((ns % TIME_PRECISION_NS) + TIME_PRECISION_NS) % TIME_PRECISION_NS);

/** Reads without moving the access time, so observing a tree does not change it. */
async function readNoAtime(at: Buffer): Promise<Buffer> {
  const handle = await fs.open(at, fsConstants.O_RDONLY | fsConstants.O_NOATIME);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Everything a user would compare, keyed by relative path; all lstat calls come before any read. */
async function observe(root: Buffer): Promise<Map<string, Observed>> {
  const found = new Map<string, Observed>();
  const files: [string, Buffer][] = [];
  const visit = async (at: Buffer, rel: Buffer) => {
    const st = await fs.lstat(at, { bigint: true });
    const o: Observed = { type: "other", mode: Number(st.mode & 0o7777n), mtime: truncateTime(st.mtimeNs) };
    if (st.isFile()) {
      o.type = "file";
      o.atime = truncateTime(st.atimeNs);
      o.size = Number(st.size);
      files.push([display(rel), at]);
    } else if (st.isSymbolicLink()) {
      o.type = "symlink";
      o.mode = 0;
      o.target = (await fs.readlink(at, { encoding: "buffer" })).toString("hex");
    } else if (st.isDirectory()) {
      o.type = "dir";
      for (const child of (await fs.readdir(at, { encoding: "buffer" })).sort(Buffer.compare)) {
        await visit(path(at, child), rel.length ? path(rel, child) : child);
      }
    }
    found.set(display(rel), o);
  };
  await visit(root, Buffer.alloc(0));
  for (const [key, at] of files) found.get(key)!.sha256 = createHash("sha256").update(await readNoAtime(at)).digest("hex");
  return found;
}

describe("backup + restore round trip", () => {
  let work: string;
  let repo: Repository;
  let runs = 0;

  beforeAll(async () => {
    work = await fs.mkdtemp(join(tmpdir(), "cairn-roundtrip-"));
    await initLocalRepository(join(work, "repo"), { chunker: CHUNKER, packSize: 1024 * 1024 });
    repo = await openLocalRepository(join(work, "repo"));
  });
  afterAll(async () => {
    await repo?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("restores any tree exactly, and an unchanged tree backs up to the same tree without reading a file", async () => {
    await fc.assert(
      fc.asyncProperty(tree, async (spec) => {
        const run = join(work, `run-${runs++}`);
        const src = join(run, "src");
        const out = join(run, "out");
        await fs.mkdir(run);
        try {
          await materialize(Buffer.from(run), { ...spec, name: Buffer.from("src") });
          const expected = await observe(Buffer.from(src));
          await pastClockTick();

          const first = await runBackup(repo, { sources: [new PathSource(src)] });
          expect(first.warnings).toEqual([]);
          const result = await restoreSnapshot(repo, first.snapshot.tree, { target: out });
          expect(result.damaged).toEqual([]);
          expect(result.problems).toEqual([]);
          expect(await observe(Buffer.from(join(out, src)))).toEqual(expected);

          // Every chunk respects the repository's bounds.
          for await (const { node } of walkTree(repo, first.snapshot.tree, { start: src })) {
            for (const id of node.content ?? []) expect(repo.lookupBlob(id)!.plainLength).toBeLessThanOrEqual(MAX);
          }

          const stored = await repo.loadSnapshot(first.snapshotId!);
          const second = await runBackup(repo, { sources: [new PathSource(src)], parent: stored });
          expect(second.counters.filesRead).toBe(0);
          expect(second.snapshot.summary!.dataBlobs).toBe(0);
          expect((await findNode(repo, second.snapshot.tree, src))!.subtree).toBe((await findNode(repo, first.snapshot.tree, src))!.subtree);
          // The source was not disturbed by being backed up (times included).
          expect(await observe(Buffer.from(src))).toEqual(expected);
        } finally {
          await fs.rm(run, { recursive: true, force: true });
        }
      }),
      { numRuns: 30 },
    );
  });

  it("keeps all of a directory that is backed up together with a path inside it, in either order", async () => {
    const run = join(work, "nested");
    const outer = join(run, "a");
    await fs.mkdir(join(outer, "b", "deep"), { recursive: true });
    await fs.mkdir(join(outer, "c"));
    await fs.writeFile(join(outer, "top.txt"), "top");
    await fs.writeFile(join(outer, "b", "deep", "in-b.txt"), "in b");
    await fs.writeFile(join(outer, "c", "in-c.txt"), "in c");
    try {
      const expected = await observe(Buffer.from(outer));
      for (const [i, paths] of [[outer, join(outer, "b")], [join(outer, "b", "deep"), outer], [outer, outer]].entries()) {
        const result = await runBackup(repo, { sources: paths.map((p) => new PathSource(p)) });
        expect(result.snapshot.paths).toEqual(paths);
        const out = join(run, `out-${i}`);
        await restoreSnapshot(repo, result.snapshot.tree, { target: out });
        expect(await observe(Buffer.from(join(out, outer)))).toEqual(expected);
      }
    } finally {
      await fs.rm(run, { recursive: true, force: true });
    }
  });
});

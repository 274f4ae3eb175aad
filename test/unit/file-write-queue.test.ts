// The restore's writer: blobs queued in batches reach their files in order, on the worker thread
// (compiled, from dist/) and inline (from the TypeScript sources, where no worker script exists).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readXattrs } from "../../src/platform/xattrs.js";
import { hashBytes } from "../../src/store/id.js";
import { FileWriteQueue as SourceQueue, type WriteTarget } from "../../src/restore/file-write-queue.js";
import type { RestoredMetadata } from "../../src/restore/restored-metadata.js";

const MiB = 1024 * 1024;
const DIST_QUEUE = fileURLToPath(new URL("../../dist/src/restore/file-write-queue.js", import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "cairn-write-queue-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

type Queue = Pick<SourceQueue, "write" | "drain" | "close">;
const where = {
  "on the writer thread": async (): Promise<Queue> => {
    const { FileWriteQueue } = (await import(DIST_QUEUE)) as { FileWriteQueue: typeof SourceQueue };
    return new FileWriteQueue();
  },
  inline: async (): Promise<Queue> => new SourceQueue(),
};

function target(path: string, offset: number, done: string[], create?: number): WriteTarget {
  return { path: Buffer.from(path), offset, create, done: () => done.push(`${path}@${offset}`) };
}

describe.each(Object.entries(where))("file write queue %s", (_, make) => {
  it("writes each blob to every file that uses it, leaves zeros as holes, and creates files at their size", async () => {
    const queue = await make();
    const data = randomBytes(300 * 1024);
    const zeros = Buffer.alloc(256 * 1024);
    const a = join(dir, "a");
    const b = join(dir, "b");
    const empty = join(dir, "empty");
    const done: string[] = [];
    const size = data.length + zeros.length + data.length;
    try {
      await queue.write(data.length, (memory) => {
        data.copy(memory);
        return [target(a, 0, done, size), target(b, 0, done, data.length)];
      });
      await queue.write(zeros.length, (memory) => {
        zeros.copy(memory);
        return [target(a, data.length, done)];
      });
      await queue.write(data.length, (memory) => {
        data.copy(memory);
        return [target(a, data.length + zeros.length, done)];
      });
      await queue.write(0, () => [target(empty, 0, done, 0)]);
      // A write that fails to fill its memory queues nothing.
      await expect(queue.write(1024, () => { throw new Error("no such blob"); })).rejects.toThrow("no such blob");
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect(done).toEqual([`${a}@0`, `${b}@0`, `${a}@${data.length}`, `${a}@${data.length + zeros.length}`, `${empty}@0`]);
    const restoredA = await fs.readFile(a);
    expect(restoredA.equals(Buffer.concat([data, zeros, data]))).toBe(true);
    // The zeros were never written: 4 KiB blocks of the file, allocated only for the data.
    expect((await fs.stat(a)).blocks * 512).toBeLessThan(size - 128 * 1024);
    expect((await fs.readFile(b)).equals(data)).toBe(true);
    expect((await fs.stat(empty)).size).toBe(0);
  });

  it("keeps a file's writes in order across many batches, a blob larger than a batch among them", async () => {
    const queue = await make();
    const pieces = Array.from({ length: 40 }, (_, i) => randomBytes(i === 17 ? 9 * MiB : 700 * 1024));
    const whole = Buffer.concat(pieces);
    const path = join(dir, "big");
    // A file already there, longer than the restored one: the first write truncates it.
    await fs.writeFile(path, Buffer.alloc(whole.length + MiB, 1));
    const done: string[] = [];
    try {
      let offset = 0;
      for (const piece of pieces) {
        const at = offset;
        await queue.write(piece.length, (memory) => {
          piece.copy(memory);
          return [target(path, at, done, at === 0 ? whole.length : undefined)];
        });
        offset += piece.length;
      }
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect(done).toHaveLength(pieces.length);
    expect((await fs.readFile(path)).equals(whole)).toBe(true);
  });

  it("creates ten thousand empty files, more than one batch holds", async () => {
    const queue = await make();
    const done: string[] = [];
    try {
      for (let i = 0; i < 10_000; i++) await queue.write(0, () => [target(join(dir, `e${i}`), 0, done, 0)]);
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect(done).toHaveLength(10_000);
    expect((await fs.readdir(dir)).length).toBe(10_000);
  });

  it("sets a file's metadata after its last write, to the nanosecond, and reports what it could not set", async () => {
    const queue = await make();
    const data = randomBytes(200 * 1024);
    const path = join(dir, "f");
    const other = join(dir, "g");
    const problems: (string | undefined)[] = [];
    const metadata: RestoredMetadata = { mode: 0o640, uid: process.getuid!(), gid: process.getgid!(), atimeNs: 1_600_000_000_123_456_789n, mtimeNs: 1_700_000_000_987_654_321n, xattrs: [{ name: "user.tag", value: Buffer.from("kept") }] };
    try {
      await queue.write(data.length, (memory) => {
        data.copy(memory);
        return [{ path: Buffer.from(path), offset: 0, create: 2 * data.length, done: () => undefined }];
      });
      // The last write sets the metadata after its bytes are in: the mtime stays the one given.
      await queue.write(data.length, (memory) => {
        data.copy(memory);
        return [{ path: Buffer.from(path), offset: data.length, metadata, done: ({ metadataProblem }) => problems.push(metadataProblem) }];
      });
      // An attribute no file system takes: the file is written, the problem reported, and the queue goes on.
      await queue.write(0, () => [{ path: Buffer.from(other), offset: 0, create: 0, metadata: { ...metadata, xattrs: [{ name: "nonsense.tag", value: Buffer.from("x") }] }, done: ({ metadataProblem }) => problems.push(metadataProblem) }]);
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect(problems).toEqual([undefined, expect.stringMatching(/^cannot set metadata: EOPNOTSUPP: lsetxattr nonsense\.tag /)]);
    const st = await fs.stat(path, { bigint: true });
    expect(st.mode & 0o7777n).toBe(0o640n);
    expect(st.mtimeNs).toBe(1_700_000_000_987_654_321n);
    expect(st.atimeNs).toBe(1_600_000_000_123_456_789n);
    expect(readXattrs(Buffer.from(path))).toEqual([{ name: "user.tag", value: Buffer.from("kept") }]);
    expect((await fs.readFile(path)).equals(Buffer.concat([data, data]))).toBe(true);
    expect((await fs.stat(other)).size).toBe(0);
  });

  it("fails the writes after one that cannot be made, and says why", async () => {
    const queue = await make();
    const data = randomBytes(1024);
    const missing = join(dir, "no-such-dir", "f");
    try {
      const failed = (async () => {
        await queue.write(data.length, (memory) => {
          data.copy(memory);
          return [target(missing, 0, [], data.length)];
        });
        await queue.drain();
      })();
      // A CairnError (one line for the user with its exit code, not an internal error), naming
      // the file. Compared by shape: the queue may come from dist, with classes of its own.
      await expect(failed).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/^cannot write .*no-such-dir\/f: no such file or directory$/) });
      await expect(queue.write(0, () => [])).rejects.toThrow(/^cannot write .*no such file or directory$/);
    } finally {
      await queue.close();
    }
  });
  it("checks a blob against its id before writing it: a blob that fails is not written, its file is still created, and the caller hears why", async () => {
    const queue = await make();
    const good = randomBytes(64 * 1024);
    const bad = randomBytes(64 * 1024);
    const path = join(dir, "checked");
    const outcomes: string[] = [];
    const corrupt: string[] = [];
    const checkedByWriter: boolean[] = [];
    const size = 2 * good.length;
    try {
      // Nothing in flight: the writer has room, so it checks.
      await queue.write(
        good.length,
        (memory, writerChecks) => {
          checkedByWriter.push(writerChecks);
          bad.copy(memory);
          return [{ path: Buffer.from(path), offset: 0, create: size, done: ({ written }) => outcomes.push(`0:${written}`) }];
        },
        { id: hashBytes(good), corrupt: (message) => corrupt.push(message) },
      );
      await queue.drain();
      await queue.write(
        good.length,
        (memory, writerChecks) => {
          checkedByWriter.push(writerChecks);
          good.copy(memory);
          return [{ path: Buffer.from(path), offset: good.length, done: ({ written }) => outcomes.push(`1:${written}`) }];
        },
        { id: hashBytes(good), corrupt: (message) => corrupt.push(message) },
      );
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect(checkedByWriter).toEqual([true, true]);
    expect(corrupt).toEqual([`blob ${hashBytes(good)}: content hash is ${hashBytes(bad)}`]);
    expect(outcomes).toEqual(["0:false", "1:true"]);
    // Created at its size; the bytes that failed were never written (a hole of zeros).
    expect((await fs.readFile(path)).equals(Buffer.concat([Buffer.alloc(good.length), good]))).toBe(true);
  });

  it("holds back the metadata of a file whose blob failed its check until a release write, so it never looks whole before it is", async () => {
    const queue = await make();
    const good = randomBytes(16 * 1024);
    const path = join(dir, "held");
    const metadata: RestoredMetadata = { mode: 0o444, uid: process.getuid!(), gid: process.getgid!(), atimeNs: 1_600_000_000_000_000_000n, mtimeNs: 1_700_000_000_000_000_000n, xattrs: [] };
    const check = { id: hashBytes(good), corrupt: () => undefined };
    const stat = () => fs.stat(path, { bigint: true });
    try {
      // The failed blob, then the file's last write, which carries its metadata.
      await queue.write(good.length, (memory) => {
        randomBytes(good.length).copy(memory);
        return [{ path: Buffer.from(path), offset: 0, create: 2 * good.length, done: () => undefined }];
      }, check);
      await queue.write(good.length, (memory) => {
        good.copy(memory);
        return [{ path: Buffer.from(path), offset: good.length, metadata, done: () => undefined }];
      }, check);
      await queue.drain();
      expect((await stat()).mode & 0o777n, "mode set before the missing bytes are in").toBe(0o600n);
      expect((await stat()).mtimeNs).not.toBe(metadata.mtimeNs);
      // The missing bytes from another copy (a file with mode 444 would refuse them as non-root), then the release.
      await queue.write(good.length, (memory) => {
        good.copy(memory);
        return [{ path: Buffer.from(path), offset: 0, done: () => undefined }];
      });
      await queue.write(0, () => [{ path: Buffer.from(path), offset: 0, metadata, release: true, done: () => undefined }]);
      await queue.drain();
    } finally {
      await queue.close();
    }
    expect((await fs.readFile(path)).equals(Buffer.concat([good, good]))).toBe(true);
    const st = await stat();
    expect([st.mode & 0o777n, st.mtimeNs]).toEqual([0o444n, metadata.mtimeNs]);
  });
});

// Opening files for backup: a FIFO that appears where a regular file was must not hang the backup.
import { execFileSync } from "node:child_process";
import { closeSync } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSyncForReading, readWholeFileSync } from "../../src/backup/file-reader.js";

const READER = fileURLToPath(new URL("../../dist/src/backup/file-reader.js", import.meta.url));
let work: string;
let fifo: string;

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), "cairn-reader-"));
  fifo = join(work, "fifo");
  execFileSync("mkfifo", [fifo]);
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Runs `body` in a child process (a blocking open would hang this one) and returns its output. */
function inChild(body: string): string {
  const script = `import { openForReading, openSyncForReading, readWholeFileSync } from ${JSON.stringify(READER)};\nconst path = Buffer.from(${JSON.stringify(fifo)});\n${body}`;
  return execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 }).toString().trim();
}

describe("opening a FIFO with no writer", () => {
  it("returns at once, synchronously; reading then fails with an error code (a warning in a backup)", () => {
    const out = inChild(`const fd = openSyncForReading(path);
try { readWholeFileSync(fd, 0); console.log("read"); } catch (err) { console.log(err.code); }`);
    expect(out).toBe("ESPIPE");
  });

  it("returns at once, asynchronously", () => {
    expect(inChild(`const handle = await openForReading(path); await handle.close(); console.log("opened");`)).toBe("opened");
  });
});

describe("reading a regular file whole", () => {
  it("returns its bytes, or nothing when it holds more than expected", async () => {
    const file = Buffer.from(join(work, "regular"));
    await fs.writeFile(file, "hello world");
    const fd = openSyncForReading(file);
    try {
      expect(Buffer.from(readWholeFileSync(fd, 11)!.bytes).toString()).toBe("hello world");
      expect(readWholeFileSync(fd, 5)).toBeUndefined();
      expect(Buffer.from(readWholeFileSync(fd, 20)!.bytes).toString()).toBe("hello world");
    } finally {
      closeSync(fd);
    }
  });
});

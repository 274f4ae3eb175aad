// dump through the real CLI: a target it cannot create is one line, and SIGINT with stdout
// redirected to a file or a pipe ends the dump like any interruption (130, lock released).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn } from "../support/cli.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let big: string;

beforeAll(async () => {
  t = await createTestRepository();
  big = join(t.work, "big.bin");
  // Incompressible and large enough that a dump is still writing (over a second) when the signal comes.
  const file = await fs.open(big, "w");
  for (let i = 0; i < 16; i++) await file.write(randomBytes(16 * 1024 * 1024));
  await file.close();
  await backup(t.repo, [big]);
  await t.close();
});

afterAll(async () => {
  await t?.cleanup();
});

interface Interrupted {
  code: number | null;
  stderr: string;
}

/** Runs `cairn dump latest PATH` with stdout as given, sends SIGINT once `started` resolves. */
async function interruptDump(path: string, stdout: "pipe" | number, started: (child: ChildProcess) => Promise<void>): Promise<Interrupted> {
  const child = spawn(process.execPath, [CAIRN_BIN, "-r", t.repoPath, "dump", "latest", path], { stdio: ["ignore", stdout, "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  await started(child);
  child.kill("SIGINT");
  return { code: await exited, stderr };
}

describe("cairn dump", () => {
  it("reports a target it cannot create in one line", async () => {
    const target = join(t.work, "missing", "out.bin");
    const result = await runCairn(["-r", t.repoPath, "dump", "latest", big, "--target", target]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^cairn: cannot write ${target}: no such file or directory\\n$`));
  });

  it("130: SIGINT stops a dump whose stdout is a file, with the lock released", async () => {
    const out = join(t.work, "stdout.bin");
    const file = await fs.open(out, "w");
    try {
      const result = await interruptDump(big, file.fd, async () => {
        // Once bytes arrive in the file, the dump is under way.
        for (let i = 0; i < 4000 && !(await fs.stat(out)).size; i++) await new Promise((r) => setTimeout(r, 5));
      });
      expect(result).toEqual({ code: 130, stderr: "cairn: interrupted\n" });
      expect((await fs.stat(out)).size).toBeLessThan(256 * 1024 * 1024);
    } finally {
      await file.close();
    }
    expect(await fs.readdir(join(t.repoPath, "locks"))).toEqual([]);
  });

  it("130: SIGINT stops a tar dump into a pipe, with the lock released", async () => {
    let received = 0;
    const result = await interruptDump("/", "pipe", async (child) => {
      // The reader stops after the first bytes, so the dump is held mid-stream when the signal comes.
      await new Promise<void>((resolve) =>
        child.stdout!.once("data", (d: Buffer) => {
          received += d.length;
          child.stdout!.pause();
          resolve();
        }),
      );
      setTimeout(() => child.stdout!.on("data", (d: Buffer) => (received += d.length)).resume(), 100);
    });
    expect(result).toEqual({ code: 130, stderr: "cairn: interrupted\n" });
    expect(received).toBeLessThan(256 * 1024 * 1024);
    expect(await fs.readdir(join(t.repoPath, "locks"))).toEqual([]);
  });
});

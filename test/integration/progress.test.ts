// The live progress line on a terminal, and status lines with --json.
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";

const run = promisify(execFile);

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let src: string;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would; returns what the terminal showed. */
async function onTerminal(args: string[]): Promise<string> {
  const command = [process.execPath, CAIRN_BIN, ...args].map(quote).join(" ");
  const { stdout } = await run("script", ["-q", "-e", "-c", `stty cols 160; ${command}`, "/dev/null"], { env: { ...process.env, TERM: "xterm" } });
  return stdout;
}

beforeAll(async () => {
  work = await tempDir("cairn-progress-");
  repo = join(work.path, "repo");
  src = join(work.path, "src");
  await fs.mkdir(src);
  for (let i = 0; i < 50; i++) await fs.writeFile(join(src, `f${i}`), `file ${i}\n`.repeat(100));
  expect((await runCairn(["-r", repo, "init"])).code).toBe(0);
});

afterAll(async () => {
  await work?.cleanup();
});

describe("progress", () => {
  it("draws a live line on a terminal: elapsed time, files and bytes done of the totals, rate, ETA", async () => {
    const screen = await onTerminal(["-r", repo, "backup", src]);
    const frames = screen.split("\r").filter((f) => f.includes(" files "));
    expect(frames.length).toBeGreaterThan(0);
    expect(screen).toMatch(/\[0:\d\d\] .*files .*\/s {2}ETA /);
    expect(screen).toContain("\x1b[K");
    expect(screen).toContain("Files:       50 new");
  });

  it("shows the file being read", async () => {
    const screen = await onTerminal(["-r", repo, "backup", "--stdin-filename", "slow.txt", "--stdin-from-command", "--", "sh", "-c", "echo a; sleep 1; echo b"]);
    expect(screen).toContain("/slow.txt");
  });

  it("stays silent with --quiet, even on a terminal", async () => {
    const screen = await onTerminal(["-r", repo, "--quiet", "backup", src]);
    expect(screen.trim()).toBe("");
  });

  it("draws nothing when stderr is not a terminal", async () => {
    const result = await runCairn(["-r", repo, "backup", src]);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain("\r");
    expect(result.stderr).not.toContain("ETA");
  });

  it("--json writes a status object about every second, then the summary; every line parses", async () => {
    const result = await runCairn(["-r", repo, "--json", "backup", "--stdin-from-command", "--", "sh", "-c", "echo a; sleep 2.5; echo b"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const statuses = lines.filter((l) => l.message_type === "status");
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses[0]).toMatchObject({ seconds_elapsed: expect.any(Number), percent_done: expect.any(Number), files_done: 0, bytes_done: expect.any(Number), total_files: expect.any(Number), error_count: 0 });
    expect(lines[lines.length - 1]).toMatchObject({ message_type: "summary", files_new: 1 });
    expect(result.stderr).not.toContain("\r");
  });
});

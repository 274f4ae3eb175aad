// Streams as sources: --stdin and --stdin-from-command.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";

let work: { path: string; cleanup: () => Promise<void> };
let repo: string;

const cairn = (args: string[], input?: string) => runCairn(["-r", repo, ...args], input === undefined ? {} : { input });
const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
const snapshotCount = async () => (await fs.readdir(join(repo, "snapshots")).catch(() => [])).length;

async function restoredFile(snapshotPath: string): Promise<string> {
  const target = join(work.path, `restore-${Math.random().toString(36).slice(2)}`);
  const result = await cairn(["restore", "latest", "--target", target]);
  expect(result.code).toBe(0);
  return fs.readFile(join(target, snapshotPath), "utf8");
}

beforeAll(async () => {
  work = await tempDir("cairn-stdin-");
  repo = join(work.path, "repo");
  expect((await runCairn(["-r", repo, "init"])).code).toBe(0);
});

afterAll(async () => {
  await work?.cleanup();
});

describe("--stdin", () => {
  it("refuses a terminal as standard input instead of waiting for typing, and writes nothing", async () => {
    const before = await snapshotCount();
    // script(1) runs the command with a pseudo-terminal as its standard input; -e passes on its exit code.
    const command = [process.execPath, CAIRN_BIN, "-r", repo, "backup", "--stdin"].map((a) => `'${a}'`).join(" ");
    const result = spawnSync("script", ["-qec", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
    expect(result.status).toBe(2);
    expect(result.stdout.toString()).toContain("cairn: --stdin: standard input is a terminal");
    expect(await snapshotCount()).toBe(before);
  });

  it("stores standard input as /stdin by default", async () => {
    const result = await cairn(["--json", "backup", "--stdin"], "from a pipe\n");
    expect(result.code).toBe(0);
    expect(summaryOf(result.stdout)).toMatchObject({ files_new: 1, total_bytes_processed: 12 });
    expect(await restoredFile("stdin")).toBe("from a pipe\n");
    const snapshots = JSON.parse((await cairn(["--json", "snapshots"])).stdout) as { paths: string[] }[];
    expect(snapshots[snapshots.length - 1]!.paths).toEqual(["/stdin"]);
  });

  it("stores it at /NAME with --stdin-filename, and dedups the same content on the next run", async () => {
    const dump = "CREATE TABLE t (id int);\n".repeat(1000);
    expect((await cairn(["backup", "--stdin", "--stdin-filename", "db/dump.sql"], dump)).code).toBe(0);
    expect(await restoredFile("db/dump.sql")).toBe(dump);
    const again = await cairn(["--json", "backup", "--stdin", "--stdin-filename", "db/dump.sql"], dump);
    expect(summaryOf(again.stdout)).toMatchObject({ files_unmodified: 1, data_blobs: 0 });
  });

  it("holds a bounded amount of memory however long the input (512 MiB piped through)", async () => {
    // GNU time reports the peak RSS of the cairn process it runs (installed by install-test-deps).
    const command = `head -c 512M /dev/zero | /usr/bin/time -f '%M' ${process.execPath} ${CAIRN_BIN} -r ${repo} backup --stdin --stdin-filename big -q`;
    const result = spawnSync("bash", ["-o", "pipefail", "-c", command], { encoding: "utf8", timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const peakKiB = Number(result.stderr.trim().split("\n").pop());
    // Each chunk read used to stay reachable until the end: over 650 MB here, 1.3 GB for 1 GiB.
    expect(peakKiB).toBeGreaterThan(0);
    expect(peakKiB / 1024).toBeLessThan(350);
  });

  it("rejects a file name that leaves the snapshot root", async () => {
    const result = await cairn(["backup", "--stdin", "--stdin-filename", "../etc/passwd"], "x");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--stdin-filename");
  });
});

describe("--stdin-from-command", () => {
  it("stores the command's standard output", async () => {
    const result = await cairn(["--json", "backup", "--stdin-filename", "out.txt", "--stdin-from-command", "--", "sh", "-c", "echo one; echo two"]);
    expect(result.code).toBe(0);
    expect(summaryOf(result.stdout)).toMatchObject({ message_type: "summary", files_new: 1 });
    expect(await restoredFile("out.txt")).toBe("one\ntwo\n");
  });

  it("writes no snapshot when the command fails, shows its stderr and exits 1", async () => {
    const before = await snapshotCount();
    const result = await cairn(["backup", "--stdin-from-command", "--", "sh", "-c", "echo partial; echo 'pg_dump: connection refused' >&2; exit 4"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("pg_dump: connection refused\n");
    expect(result.stderr).toContain("cairn: sh -c echo partial; echo 'pg_dump: connection refused' >&2; exit 4 exited with status 4: pg_dump: connection refused; no snapshot was written\n");
    expect(await snapshotCount()).toBe(before);
  });

  it("fails with exit 1 when the command cannot be run", async () => {
    const result = await cairn(["backup", "--stdin-from-command", "--", "no-such-command-here"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cairn: cannot run no-such-command-here: ENOENT");
  });

  it("fails with exit 1 when the command is killed by a signal", async () => {
    const result = await cairn(["backup", "--stdin-from-command", "--", "sh", "-c", "kill -9 $$"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("was killed");
  });

  it("needs a command", async () => {
    const result = await cairn(["backup", "--stdin-from-command"]);
    expect(result.code).toBe(2);
  });

  it("ends the command's own children too when interrupted (a shell's pipeline would outlive the shell)", async () => {
    const pidFile = join(work.path, "grandchild.pid");
    const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "backup", "--stdin-from-command", "--", "sh", "-c", `sleep 300 | cat & echo $! > '${pidFile}'; wait`], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    let text = "";
    for (let i = 0; i < 200 && !text.endsWith("\n"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = await fs.readFile(pidFile, "utf8").catch(() => "");
    }
    // The pipeline's last process (cat); its sleep is found through /proc like any other.
    const grandchild = Number(text.trim());
    expect(grandchild).toBeGreaterThan(0);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "latin1"));
      } catch {
        return false;
      }
    };
    expect(alive(grandchild)).toBe(true);
    child.kill("SIGINT");
    expect(await exited, stderr).toBe(130);
    for (let i = 0; i < 40 && alive(grandchild); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(alive(grandchild)).toBe(false);
    expect(spawnSync("pgrep", ["-f", "^sleep 300$"]).stdout.toString()).toBe("");
  });
});

// Runs the benchmark harness end to end at the tiny scale through the compiled dist/, against the
// real restic and borg (scripts/install-test-deps.sh installs them): the harness must keep working.
// It asserts that every step ran for every tool and that the reports were written, never timings.
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/cli.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RUN = join(ROOT, "dist", "bench", "run.js");
const TOOLS = ["cairn", "restic", "borg"];
const STEPS = ["initial backup", "no-change incremental", "small-change incremental", "restore", "check --read-data"];

interface Outcome {
  tool: string;
  step: string;
  error?: string;
  wallSeconds?: number;
  cpuSeconds?: number;
  systemSeconds?: number;
  stealSeconds?: number;
  peakRssMiB?: number;
  repoBytes?: number;
}

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("benchmark harness, tiny scale", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let run: { code: number | null; output: string };
  let files: string[];

  beforeAll(async () => {
    dir = await tempDir("cairn-bench-smoke-");
    await mkdir(join(dir.path, "restores"));
    run = await runBench(["--scale", "tiny", "--out", join(dir.path, "out"), "--work", join(dir.path, "work"), "--restore-dir", join(dir.path, "restores")]);
    files = await readdir(join(dir.path, "out"));
  }, 600_000);

  afterAll(async () => {
    await dir?.cleanup();
  });

  it("runs every step for cairn, restic and borg and exits 0", async () => {
    expect(run.output).not.toMatch(/not installed/);
    expect(run.code, run.output).toBe(0);
    const json = files.filter((f) => /^bench-tiny-.*\.json$/.test(f));
    expect(json).toHaveLength(1);
    const report = JSON.parse(await readFile(join(dir.path, "out", json[0]), "utf8")) as { scale: string; suite: { corpus: { total: { files: number; bytes: number } }; results: Outcome[] } };
    expect(report.scale).toBe("tiny");
    expect(report.suite.corpus.total.files).toBeGreaterThan(1000);
    const results = report.suite.results;
    expect([...new Set(results.map((r) => r.tool))].sort()).toEqual([...TOOLS].sort());
    for (const tool of TOOLS) {
      for (const step of STEPS) {
        const r = results.filter((x) => x.tool === tool && x.step === step);
        expect(r, `${tool} ${step}`).toHaveLength(1);
        expect(r[0].error, `${tool} ${step}`).toBeUndefined();
        for (const field of ["wallSeconds", "cpuSeconds", "systemSeconds", "stealSeconds", "peakRssMiB"] as const) expect(Number.isFinite(r[0][field]), `${tool} ${step} ${field}`).toBe(true);
        expect(r[0].repoBytes, `${tool} ${step} repo size`).toBeGreaterThan(1_000_000);
      }
    }
  });

  it("restores where --restore-dir says, and leaves no restore or retired copy behind", async () => {
    const md = files.find((f) => /^bench-tiny-.*\.md$/.test(f))!;
    expect(await readFile(join(dir.path, "out", md), "utf8")).toContain(`Restores into ${join(dir.path, "restores")}.`);
    expect(await readdir(join(dir.path, "restores"))).toEqual([]);
    expect((await readdir(join(dir.path, "work"))).sort()).toEqual(["borg-base", "corpus", "repo-borg", "repo-cairn", "repo-restic", "restic-cache"]);
  });

  it("writes the Markdown table with cairn's ratios and the SVG chart", async () => {
    const md = files.filter((f) => /^bench-tiny-.*\.md$/.test(f));
    const svg = files.filter((f) => /^bench-tiny-.*\.svg$/.test(f));
    expect(md).toHaveLength(1);
    expect(svg).toHaveLength(1);
    const markdown = await readFile(join(dir.path, "out", md[0]), "utf8");
    for (const step of STEPS) for (const peer of ["restic", "borg"]) expect(markdown).toContain(`| ${step} | cairn/${peer} |`);
    const chart = await readFile(join(dir.path, "out", svg[0]), "utf8");
    expect(chart.startsWith("<svg ")).toBe(true);
    for (const tool of TOOLS) expect(chart).toContain(`${tool} initial backup:`);
  });
});

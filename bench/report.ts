import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isFailure, STEPS, type StepOutcome, type StepResult, type SuiteResult } from "./suite.js";

export interface BenchReport {
  date: string;
  scale: string;
  machine: { cpus: number; node: string };
  /** How many times the suite ran; each step reports its fastest run. */
  runs: number;
  /** Where restores wrote, when not beside the repositories (--restore-dir). */
  restoreDir?: string;
  suite: SuiteResult;
  extra?: Record<string, unknown>;
}

function find(results: StepOutcome[], tool: string, step: string): StepOutcome | undefined {
  return results.find((r) => r.tool === tool && r.step === step);
}

function measured(results: StepOutcome[], tool: string, step: string): StepResult | undefined {
  const r = find(results, tool, step);
  return r && !isFailure(r) ? r : undefined;
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
}

function toolsOf(suite: SuiteResult): string[] {
  return [...new Set(suite.results.map((r) => r.tool))];
}

/** One row per step and tool: what each command cost, or why it failed. */
export function markdownTable(suite: SuiteResult): string {
  const tools = toolsOf(suite);
  const header = ["step", "tool", "wall s", "cpu s", "peak RSS MiB", "repo MB"];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const step of STEPS) {
    for (const tool of tools) {
      const r = find(suite.results, tool, step);
      if (!r) continue;
      const cells = isFailure(r)
        ? ["failed", "", "", ""]
        : [r.wallSeconds.toFixed(2), r.cpuSeconds.toFixed(2), r.peakRssMiB.toFixed(0), (r.repoBytes / 1e6).toFixed(1)];
      lines.push(`| ${[step, tool, ...cells].join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

/** One row per step and peer: cairn's cost divided by the peer's (below 1× means cairn is cheaper). */
export function ratioTable(suite: SuiteResult): string {
  const peers = toolsOf(suite).filter((t) => t !== "cairn");
  const header = ["step", "peer", "wall", "cpu", "peak RSS", "repo size"];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const step of STEPS) {
    const c = measured(suite.results, "cairn", step);
    for (const peer of peers) {
      const p = measured(suite.results, peer, step);
      const cells = [ratio(c?.wallSeconds, p?.wallSeconds), ratio(c?.cpuSeconds, p?.cpuSeconds), ratio(c?.peakRssMiB, p?.peakRssMiB), ratio(c?.repoBytes, p?.repoBytes)];
      lines.push(`| ${[step, `cairn/${peer}`, ...cells].join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

/** A grouped bar chart of wall time per step, one bar per tool; failed steps have no bar. */
export function svgChart(suite: SuiteResult): string {
  const tools = toolsOf(suite);
  const colors = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1"];
  const ok = suite.results.filter((r): r is StepResult => !isFailure(r));
  const max = Math.max(...ok.map((r) => r.wallSeconds), 0.001);
  const groupWidth = 150;
  const barWidth = Math.floor((groupWidth - 30) / Math.max(tools.length, 1));
  const height = 260;
  const plot = 200;
  const parts: string[] = [];
  STEPS.forEach((step, i) => {
    const x0 = 50 + i * groupWidth;
    tools.forEach((tool, j) => {
      const r = measured(suite.results, tool, step);
      if (!r) return;
      const h = Math.max(1, Math.round((r.wallSeconds / max) * plot));
      parts.push(`<rect x="${x0 + j * barWidth}" y="${20 + plot - h}" width="${barWidth - 4}" height="${h}" fill="${colors[j % colors.length]}"><title>${tool} ${step}: ${r.wallSeconds.toFixed(2)} s</title></rect>`);
    });
    parts.push(`<text x="${x0}" y="${height - 20}" font-size="11">${step}</text>`);
  });
  tools.forEach((tool, j) => parts.push(`<text x="${60 + j * 90}" y="14" font-size="12" fill="${colors[j % colors.length]}">■ ${tool}</text>`));
  parts.push(`<text x="4" y="${20 + plot}" font-size="10">0 s</text><text x="4" y="28" font-size="10">${max.toFixed(1)} s</text>`);
  const width = 60 + STEPS.length * groupWidth;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">${parts.join("")}</svg>\n`;
}

/** A file-name-safe form of an ISO date. */
export function stamp(date: string): string {
  return date.replace(/[:.]/g, "-");
}

export async function writeReport(outDir: string, report: BenchReport): Promise<{ json: string; markdown: string; svg: string }> {
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, `bench-${report.scale}-${stamp(report.date)}`);
  const failures = report.suite.results.filter(isFailure);
  const markdown = [
    `# cairn benchmark, ${report.scale} corpus, ${report.date}`,
    "",
    `Corpus: ${report.suite.corpus.total.files} files, ${(report.suite.corpus.total.bytes / 1e6).toFixed(1)} MB on day 1. Machine: ${report.machine.cpus} CPUs, Node ${report.machine.node}.${report.runs > 1 ? ` Best of ${report.runs} runs per step.` : ""}${report.restoreDir ? ` Restores into ${report.restoreDir}.` : ""}`,
    "",
    markdownTable(report.suite),
    "",
    "Ratios, cairn divided by each peer:",
    "",
    ratioTable(report.suite),
    "",
    ...failures.flatMap((f) => [`Failed: ${f.tool} ${f.step}:`, "", "```", f.error.trim(), "```", ""]),
    ...(report.extra ? ["```json", JSON.stringify(report.extra, null, 2), "```", ""] : []),
  ].join("\n");
  await writeFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await writeFile(`${base}.md`, markdown);
  await writeFile(`${base}.svg`, svgChart(report.suite));
  return { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` };
}

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STEPS, type StepResult, type SuiteResult } from "./suite.js";

export interface BenchReport {
  date: string;
  scale: string;
  machine: { cpus: number; node: string };
  suite: SuiteResult;
  extra?: Record<string, unknown>;
}

function find(results: StepResult[], tool: string, step: string): StepResult | undefined {
  return results.find((r) => r.tool === tool && r.step === step);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
}

/** One row per step and tool, with cairn's ratio to each peer on time, memory and size. */
export function markdownTable(suite: SuiteResult): string {
  const tools = [...new Set(suite.results.map((r) => r.tool))];
  const peers = tools.filter((t) => t !== "cairn");
  const header = ["step", "tool", "wall s", "cpu s", "peak RSS MiB", "repo MB", ...peers.flatMap((p) => [`cairn/${p} wall`, `cairn/${p} RSS`, `cairn/${p} repo`])];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const step of STEPS) {
    for (const tool of tools) {
      const r = find(suite.results, tool, step);
      if (!r) continue;
      const ratios = peers.flatMap((p) => {
        if (tool !== "cairn") return ["", "", ""];
        const peer = find(suite.results, p, step);
        return [ratio(r.wallSeconds, peer?.wallSeconds), ratio(r.peakRssMiB, peer?.peakRssMiB), ratio(r.repoBytes, peer?.repoBytes)];
      });
      lines.push(`| ${[step, tool, r.wallSeconds.toFixed(2), r.cpuSeconds.toFixed(2), r.peakRssMiB.toFixed(0), (r.repoBytes / 1e6).toFixed(1), ...ratios].join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

/** A grouped bar chart of wall time per step, one bar per tool. */
export function svgChart(suite: SuiteResult): string {
  const tools = [...new Set(suite.results.map((r) => r.tool))];
  const colors = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1"];
  const max = Math.max(...suite.results.map((r) => r.wallSeconds), 0.001);
  const groupWidth = 150;
  const barWidth = Math.floor((groupWidth - 30) / Math.max(tools.length, 1));
  const height = 260;
  const plot = 200;
  const parts: string[] = [];
  STEPS.forEach((step, i) => {
    const x0 = 50 + i * groupWidth;
    tools.forEach((tool, j) => {
      const r = find(suite.results, tool, step);
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

export async function writeReport(outDir: string, report: BenchReport): Promise<{ json: string; markdown: string; svg: string }> {
  await mkdir(outDir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  const base = join(outDir, `bench-${report.scale}-${stamp}`);
  const table = markdownTable(report.suite);
  const markdown = [
    `# cairn benchmark, ${report.scale} corpus, ${report.date}`,
    "",
    `Corpus: ${report.suite.corpus.total.files} files, ${(report.suite.corpus.total.bytes / 1e6).toFixed(1)} MB on day 1. Machine: ${report.machine.cpus} CPUs, Node ${report.machine.node}.`,
    "",
    table,
    "",
    ...(report.extra ? ["```json", JSON.stringify(report.extra, null, 2), "```", ""] : []),
  ].join("\n");
  await writeFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await writeFile(`${base}.md`, markdown);
  await writeFile(`${base}.svg`, svgChart(report.suite));
  return { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` };
}

import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Summarizes V8 .cpuprofile files (from `node --cpu-prof`): the functions with the most self and
 * total time, as a share of all samples.
 *   node dist/bench/cpuprofile-summary.js [--top N] FILE.cpuprofile...
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.startsWith("file://") ? relative(process.cwd(), fileURLToPath(url)) : url || "(native)";
  return `${functionName || "(anonymous)"} ${file}${url ? `:${lineNumber + 1}` : ""}`;
}

function summarize(profile: Profile): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(id);
    if (!node) return;
    self.set(where(node), (self.get(where(node)) ?? 0) + dt);
    // Count each function once per sample, even when it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const key = where(byId.get(cur)!);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  });
  return { total, self, inclusive };
}

function top(map: Map<string, number>, total: number, n: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1e6).toFixed(2).padStart(7)}s  ${key}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let n = 25;
  const topAt = args.indexOf("--top");
  if (topAt >= 0) {
    n = Number(args[topAt + 1]);
    args.splice(topAt, 2);
  }
  for (const file of args) {
    const { total, self, inclusive } = summarize(JSON.parse(await readFile(file, "utf8")) as Profile);
    console.log(`== ${file}: ${(total / 1e6).toFixed(2)}s sampled\n-- self time`);
    console.log(top(self, total, n).join("\n"));
    console.log("-- total time (self + callees)");
    console.log(top(inclusive, total, n).join("\n"));
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseSize } from "../src/cli/parse-options.js";
import { chunkSizeTable, runChunkSizes, writeChunkSizeReport } from "./chunk-sizes.js";
import type { CorpusScale } from "./corpus/corpus.js";
import { indexScaleTable, runIndexScale } from "./index-scale.js";
import { markdownTable, ratioTable, stamp, writeReport } from "./report.js";
import { bestOfRuns, isFailure, RETIRED_DIR, runSuite, type SuiteResult } from "./suite.js";
import type { BackupTool } from "./tools/backup-tool.js";
import { BorgTool } from "./tools/borg-tool.js";
import { CairnTool } from "./tools/cairn-tool.js";
import { ResticTool } from "./tools/restic-tool.js";

const USAGE = [
  "usage: npm run bench -- [--scale tiny|small|default] [--seed N] [--runs N] [--out DIR] [--work DIR] [--restore-dir DIR] [--tools cairn,restic,borg]",
  "       npm run bench -- --index-scale 1000000,10000000",
  "       npm run bench -- --scale small --chunk-sizes 64K,256K,1M [--days 3]",
].join("\n");

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scale: { type: "string", default: "default" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: "bench/results" },
      work: { type: "string" },
      "restore-dir": { type: "string" },
      tools: { type: "string", default: "cairn,restic,borg" },
      "index-scale": { type: "string" },
      "chunk-sizes": { type: "string" },
      days: { type: "string", default: "3" },
      runs: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const scale = values.scale as CorpusScale;
  if (!["tiny", "small", "default"].includes(scale)) throw new Error(`unknown scale ${scale}\n${USAGE}`);
  const outDir = resolve(values.out);
  const date = new Date().toISOString();
  const machine = { cpus: os.availableParallelism(), node: process.version };
  const work = values.work ? resolve(values.work) : await mkdtemp(join(os.tmpdir(), "cairn-bench-"));
  await mkdir(work, { recursive: true });
  // Restores elsewhere (a tmpfs, say): what the file system does after mass deletions then stays out of it.
  const restoreRoot = values["restore-dir"] ? await mkdtemp(join(resolve(values["restore-dir"]), "cairn-bench-restore-")) : work;
  const log = (line: string) => console.log(line);
  try {
    if (values["index-scale"]) {
      const sizes = values["index-scale"].split(",").map(Number);
      const results = await runIndexScale(work, sizes, log);
      await mkdir(outDir, { recursive: true });
      const base = join(outDir, `index-scale-${stamp(date)}`);
      const table = indexScaleTable(results);
      await writeFile(`${base}.json`, JSON.stringify({ date, machine, results }, null, 2) + "\n");
      await writeFile(`${base}.md`, `# cairn index scale, ${date}\n\nMachine: ${machine.cpus} CPUs, Node ${machine.node}.\n\n${table}\n`);
      console.log(`\n${table}\n\nresults: ${base}.json\n         ${base}.md`);
      return 0;
    }
    if (values["chunk-sizes"]) {
      const averages = values["chunk-sizes"].split(",").map((s) => parseSize(s, "--chunk-sizes"));
      const days = Number(values.days);
      if (!Number.isInteger(days) || days < 2) throw new Error(`--days must be 2 or more\n${USAGE}`);
      const study = await runChunkSizes(work, scale, Number(values.seed), averages, days, log);
      const files = await writeChunkSizeReport(outDir, { date, scale, machine, ...study });
      console.log(`\n${chunkSizeTable(study.results)}\n\nresults: ${files.json}\n         ${files.markdown}`);
      return 0;
    }
    const wanted = values.tools.split(",").map((t) => t.trim());
    const candidates: BackupTool[] = [new CairnTool(), new ResticTool(join(work, "restic-cache")), new BorgTool(join(work, "borg-base"))];
    const tools: BackupTool[] = [];
    for (const tool of candidates) {
      if (!wanted.includes(tool.name)) continue;
      if (await tool.available()) tools.push(tool);
      else console.log(`${tool.name} is not installed: skipped (install the Debian package to compare)`);
    }
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be 1 or more\n${USAGE}`);
    const suites: SuiteResult[] = [];
    for (let i = 1; i <= runs; i++) {
      if (runs > 1) log(`run ${i} of ${runs}`);
      // Each run starts with another tool: the first to write after the corpus is regenerated
      // meets the file system's state (caches, recently freed inodes) that the others do not.
      const shift = (i - 1) % tools.length;
      suites.push(await runSuite([...tools.slice(shift), ...tools.slice(0, shift)], work, scale, Number(values.seed), log, restoreRoot));
    }
    const suite = bestOfRuns(suites);
    const files = await writeReport(outDir, { date, scale, machine, runs, suite, ...(values["restore-dir"] ? { restoreDir: resolve(values["restore-dir"]) } : {}) });
    console.log(`\n${markdownTable(suite)}\n\n${ratioTable(suite)}\n`);
    console.log(`results: ${files.json}\n         ${files.markdown}\n         ${files.svg}`);
    const failed = suite.results.filter(isFailure);
    if (failed.length > 0) {
      console.error(`bench: ${failed.length} step(s) failed: ${failed.map((f) => `${f.tool} ${f.step}`).join(", ")}`);
      return 1;
    }
    return 0;
  } finally {
    // The file system may then be slow to create files for a few minutes (see `retire`).
    await rm(values.work ? join(work, RETIRED_DIR) : work, { recursive: true, force: true });
    if (restoreRoot !== work) await rm(restoreRoot, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);

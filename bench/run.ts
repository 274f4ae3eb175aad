import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { CorpusScale } from "./corpus/corpus.js";
import { runIndexScale } from "./index-scale.js";
import { markdownTable, writeReport } from "./report.js";
import { runSuite } from "./suite.js";
import type { BackupTool } from "./tools/backup-tool.js";
import { BorgTool } from "./tools/borg-tool.js";
import { CairnTool } from "./tools/cairn-tool.js";
import { ResticTool } from "./tools/restic-tool.js";

const USAGE = "usage: npm run bench -- [--scale tiny|small|default] [--seed N] [--out DIR] [--work DIR] [--tools cairn,restic,borg] [--index-scale 1000000,10000000]";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: "string", default: "default" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: "bench/results" },
      work: { type: "string" },
      tools: { type: "string", default: "cairn,restic,borg" },
      "index-scale": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const scale = values.scale as CorpusScale;
  if (!["tiny", "small", "default"].includes(scale)) throw new Error(`unknown scale ${scale}\n${USAGE}`);
  const work = values.work ? resolve(values.work) : await mkdtemp(join(os.tmpdir(), "cairn-bench-"));
  const wanted = values.tools.split(",").map((t) => t.trim());
  const candidates: BackupTool[] = [new CairnTool(), new ResticTool(join(work, "restic-cache")), new BorgTool(join(work, "borg-base"))];
  const tools: BackupTool[] = [];
  for (const tool of candidates) {
    if (!wanted.includes(tool.name)) continue;
    if (await tool.available()) tools.push(tool);
    else console.log(`${tool.name} is not installed: skipped (install the Debian package to compare)`);
  }
  try {
    if (values["index-scale"]) {
      const sizes = values["index-scale"].split(",").map(Number);
      const results = await runIndexScale(work, sizes, (line) => console.log(line));
      const file = join(resolve(values.out), `index-scale-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
      await mkdir(resolve(values.out), { recursive: true });
      await writeFile(file, JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + "\n");
      console.log(`results: ${file}`);
      return;
    }
    const suite = await runSuite(tools, work, scale, Number(values.seed), (line) => console.log(line));
    const files = await writeReport(resolve(values.out), {
      date: new Date().toISOString(),
      scale,
      machine: { cpus: os.availableParallelism(), node: process.version },
      suite,
    });
    console.log("\n" + markdownTable(suite) + "\n");
    console.log(`results: ${files.json}\n         ${files.markdown}\n         ${files.svg}`);
  } finally {
    if (!values.work) await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});

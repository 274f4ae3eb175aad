import { parseArgs } from "node:util";
import { advanceCorpus, DEFAULT_SEED, generateCorpus, readCorpusState, type CorpusScale } from "./corpus.js";

/**
 * Manual entry point:
 *   node dist/bench/corpus/cli.js --dir D --scale tiny|small|default [--seed N] [--day N]
 * Without --day, generates day 1 into D (missing or empty). With --day N, brings D to day N:
 * generates day 1 if D holds no corpus, then applies each following day's changes in turn.
 */
const USAGE = "usage: cli.js --dir D --scale tiny|small|default [--seed N] [--day N]";
const SCALES: readonly string[] = ["tiny", "small", "default"];

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer: ${text}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: "string" }, scale: { type: "string" }, seed: { type: "string" }, day: { type: "string" } },
  });
  const dir = values.dir ?? fail("--dir is required");
  const scaleName = values.scale ?? fail("--scale is required");
  if (!SCALES.includes(scaleName)) fail(`unknown scale: ${scaleName}`);
  const scale = scaleName as CorpusScale;
  const seed = integer("seed", values.seed, DEFAULT_SEED);
  const target = integer("day", values.day, 1);
  if (target < 1) fail("--day must be at least 1");

  let day = (await readCorpusState(dir))?.day ?? 0;
  if (values.day === undefined || day === 0) {
    const started = performance.now();
    const info = await generateCorpus(dir, { scale, seed });
    console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, ...info }));
    day = 1;
  }
  if (day > target) fail(`${dir} is already at day ${day}`);
  for (day++; day <= target; day++) {
    const started = performance.now();
    const summary = await advanceCorpus(dir, { scale, seed, day });
    console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, ...summary }));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

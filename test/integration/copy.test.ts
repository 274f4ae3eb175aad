// `cairn copy`: snapshots and the data they need, from one repository into another (a second
// disk, say), checked, deduplicated, and safe to interrupt and run again.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copySnapshots } from "../../src/copy/snapshot-copier.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { packKey } from "../../src/store/pack/pack-format.js";
import { parseTree } from "../../src/store/tree/tree-codec.js";
import { runCairn, tempDir } from "../support/cli.js";
import { expectOk, expectUsageError } from "../support/cli-expect.js";
import { manifest } from "../support/test-data.js";

let work: { path: string; cleanup: () => Promise<void> };
let src: string;
let from: string;

interface Snap {
  id: string;
  time: string;
  tree: string;
  paths: string[];
  tags: string[];
  hostname: string;
  original?: string;
  parent?: string;
}

const snapshotsOf = async (repo: string) => JSON.parse(expectOk(await runCairn(["-r", repo, "snapshots", "--json"])).stdout) as Snap[];

async function newRepository(name: string): Promise<string> {
  const repo = join(work.path, name);
  expectOk(await runCairn(["-r", repo, "init"]));
  return repo;
}

beforeAll(async () => {
  work = await tempDir("cairn-copy-");
  src = join(work.path, "src");
  from = join(work.path, "from");
  await fs.mkdir(join(src, "docs"), { recursive: true });
  await fs.writeFile(join(src, "big.bin"), randomBytes(3 * 1024 * 1024));
  await fs.writeFile(join(src, "docs/a.txt"), "alpha\n".repeat(1000));
  await fs.writeFile(join(src, "docs/empty"), "");
  expectOk(await runCairn(["-r", from, "init"]));
  expectOk(await runCairn(["-r", from, "backup", "--tag", "first", src]));
  await fs.writeFile(join(src, "docs/b.txt"), randomBytes(200_000));
  expectOk(await runCairn(["-r", from, "backup", "--tag", "second", src]));
});

afterAll(async () => {
  await work?.cleanup();
});

describe("cairn copy", () => {
  it("copies every snapshot with its data: the copy checks clean, restores byte for byte and names its original", async () => {
    const to = await newRepository("to-all");
    const result = expectOk(await runCairn(["-r", to, "copy", "--from-repo", from]));
    expect(result.stdout).toMatch(/2 snapshots copied, 0 already here; \d+ blobs \(.+\) added/);
    const source = await snapshotsOf(from);
    const copies = await snapshotsOf(to);
    expect(copies.map((s) => [s.time, s.tree, s.paths, s.tags, s.hostname, s.original])).toEqual(source.map((s) => [s.time, s.tree, s.paths, s.tags, s.hostname, s.id]));
    // The second backup's parent is a snapshot of the source repository: not carried over.
    expect(source[1]!.parent).toBe(source[0]!.id);
    expect(copies.map((s) => s.parent)).toEqual([undefined, undefined]);
    expect(expectOk(await runCairn(["-r", to, "check", "--read-data"])).stdout).toContain("no errors found");
    const target = join(work.path, "restored");
    expectOk(await runCairn(["-r", to, "restore", "latest", "--target", target]));
    expect(await manifest(join(target, src))).toEqual(await manifest(src));
  });

  it("copies nothing twice: a second run finds every snapshot there, and a later snapshot adds only its new data", async () => {
    const to = await newRepository("to-twice");
    const first = expectOk(await runCairn(["-r", to, "copy", "--from-repo", from, "--tag", "first", "--json"]));
    const firstSummary = JSON.parse(first.stdout.trim().split("\n").at(-1)!) as { copied_snapshots: number; bytes_added: number };
    expect(firstSummary.copied_snapshots).toBe(1);
    const again = expectOk(await runCairn(["-r", to, "copy", "--from-repo", from, "--tag", "first"]));
    expect(again.stdout).toMatch(/already here as [0-9a-f]{8}/);
    expect(again.stdout).toContain("0 snapshots copied, 1 already here; 0 blobs (0 B) added");
    const second = expectOk(await runCairn(["-r", to, "copy", "--from-repo", from, "--json"]));
    const secondSummary = JSON.parse(second.stdout.trim().split("\n").at(-1)!) as { copied_snapshots: number; already_there: number; bytes_added: number };
    expect(secondSummary).toMatchObject({ copied_snapshots: 1, already_there: 1 });
    // The second snapshot adds b.txt (200,000 bytes) and the trees along its path, not big.bin again.
    expect(secondSummary.bytes_added).toBeGreaterThanOrEqual(200_000);
    expect(secondSummary.bytes_added).toBeLessThan(250_000);
    expect(expectOk(await runCairn(["-r", to, "check", "--read-data"])).stdout).toContain("no errors found");
  });

  it("goes below a tree the destination holds without all that is under it (an interrupted copy)", async () => {
    const to = await newRepository("to-partial");
    const source = await openLocalRepository(from);
    const destination = await openLocalRepository(to);
    try {
      const [snapshot] = await source.listSnapshots();
      // The root tree alone, as a copy stopped after storing it would leave it.
      const rootBytes = await source.loadBlob(snapshot!.tree);
      await destination.saveBlob("tree", rootBytes, snapshot!.tree);
      await destination.flush();
      expect(parseTree(snapshot!.tree, rootBytes).length).toBeGreaterThan(0);
      const result = await copySnapshots(source, destination, [snapshot!]);
      expect(result.snapshots).toEqual([expect.objectContaining({ from: snapshot!.id, alreadyThere: false })]);
      expect(result.bytesCopied).toBeGreaterThan(3 * 1024 * 1024);
    } finally {
      await source.close();
      await destination.close();
    }
    expect(expectOk(await runCairn(["-r", to, "check", "--read-data"])).stdout).toContain("no errors found");
  });

  it("stops at a blob damaged in the source, in one line, writing no snapshot; the destination stays sound", async () => {
    const damaged = join(work.path, "damaged-from");
    await fs.cp(from, damaged, { recursive: true });
    // Flip a byte of the largest data blob (big.bin's chunks are random, stored uncompressed).
    const repo = await openLocalRepository(damaged);
    let target: { packId: string; offset: number } | undefined;
    try {
      const [snapshot] = await repo.listSnapshots();
      const root = await repo.loadTree(snapshot!.tree);
      let nodes = root;
      for (const name of src.split("/").filter(Boolean)) nodes = await repo.loadTree(nodes.find((n) => n.name === name)!.subtree!);
      const big = nodes.find((n) => n.name === "big.bin")!;
      const location = repo.lookupBlob(big.content![0]!)!;
      target = { packId: location.packId, offset: location.offset + 100 };
    } finally {
      await repo.close();
    }
    const packPath = join(damaged, packKey(target.packId));
    const bytes = await fs.readFile(packPath);
    bytes[target.offset] ^= 0xff;
    await fs.chmod(packPath, 0o600);
    await fs.writeFile(packPath, bytes);
    const to = await newRepository("to-damaged");
    const result = await runCairn(["-r", to, "copy", "--from-repo", damaged]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^cairn: .*blob [0-9a-f]{64}/);
    expect(await snapshotsOf(to)).toEqual([]);
    expect(expectOk(await runCairn(["-r", to, "check", "--read-data"])).stdout).toContain("no errors found");
  });

  it("refuses to run without a source, or with the destination as its source", async () => {
    const to = await newRepository("to-refused");
    expectUsageError(await runCairn(["-r", to, "copy"]), /--from-repo PATH/);
    expectUsageError(await runCairn(["-r", to, "copy", "--from-repo", to]), /names the repository being copied into/);
    const missing = await runCairn(["-r", to, "copy", "--from-repo", join(work.path, "nowhere")]);
    expect(missing.code).toBe(10);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
  });
});

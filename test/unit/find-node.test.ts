// Finding a path in a snapshot when names are not UTF-8: they are matched by their text, in
// which every bad byte reads U+FFFD, so two names can read the same.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import type { StoredSnapshot } from "../../src/store/snapshot/snapshot.js";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
let src: string;
let snapshot: StoredSnapshot;

beforeAll(async () => {
  t = await createTestRepository();
  src = join(t.work, "src");
  await fs.mkdir(src);
  const name = (...bytes: number[]) => Buffer.concat([Buffer.from(`${src}/`), Buffer.from(bytes)]);
  await fs.writeFile(name(0x78, 0xfe), "FE-content\n");
  await fs.writeFile(name(0x78, 0xff), "FF-content-longer\n");
  await fs.writeFile(name(0x79, 0xff), "only one\n");
  snapshot = await backup(t.repo, [src]);
});

afterAll(async () => {
  await t?.cleanup();
});

it("refuses a path that reads the same as two entries instead of taking the first", async () => {
  const ambiguous = findNode(t.repo, snapshot.tree, `${src}/x\uFFFD`);
  await expect(ambiguous).rejects.toThrow(UsageError);
  await expect(ambiguous).rejects.toThrow(`${src}/x\uFFFD: ambiguous: 2 entries differ only in bytes that are not UTF-8`);
});

it("finds a name that is not UTF-8 when only one entry reads that way", async () => {
  const node = await findNode(t.repo, snapshot.tree, `${src}/y\uFFFD`);
  expect(node?.size).toBe("only one\n".length);
});

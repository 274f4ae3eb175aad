// The directories above a backed-up path are stored with their own metadata; a symlink on the
// way is stored as the directory it leads to, never with the link's mode (0777).
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { findNode } from "../../src/store/tree/tree-walker.js";
import { backup, createTestRepository, type TestRepository } from "../support/repo-fixture.js";

let t: TestRepository;
beforeEach(async () => {
  t = await createTestRepository();
});
afterEach(async () => {
  await t.cleanup();
});

it("stores a symlink above the path as the directory it leads to", async () => {
  const real = join(t.work, "real");
  await fs.mkdir(join(real, "inner"), { recursive: true });
  await fs.writeFile(join(real, "inner", "f"), "f\n");
  await fs.chmod(real, 0o750);
  await fs.symlink(real, join(t.work, "link"));
  const snapshot = await backup(t.repo, [join(t.work, "link", "inner")]);
  const above = await findNode(t.repo, snapshot.tree, join(t.work, "link"));
  expect(above?.type).toBe("dir");
  expect(above!.mode & 0o7777).toBe(0o750);
  expect((await findNode(t.repo, snapshot.tree, join(t.work, "link", "inner", "f")))?.type).toBe("file");
});

// Containers and images that are unusual but common on real hosts, backed up and put back on a
// real engine: a container that changed nothing, one on several networks, one sharing another's
// network namespace, an image restored under one of several tags; and what a backup does when a
// container or the engine goes away half-way.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { dockerSource } from "../../src/sources/docker/docker-source.js";
import { EngineClient } from "../../src/sources/docker/engine-client.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { runCairn, tempDir } from "../support/cli.js";
import { buildTestImage, startDockerEngine, type DockerEngine } from "../support/docker-engine.js";
import { createContainer, inspectContainer, remove } from "./docker-fixtures.js";

let engine: DockerEngine;
let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
const IMAGE = "edge/base:1";

const cairn = (args: string[], env: NodeJS.ProcessEnv = {}) => runCairn(["-r", repo, ...args], { env: { DOCKER_HOST: engine.dockerHost, ...env } });

/** Runs cairn, expects success and returns what it printed (stdout, then the messages on stderr). */
async function expectOk(args: string[]): Promise<string> {
  const r = await cairn(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout + r.stderr;
}

/** Backs up `uris` through the library, with the engine's answer to GET /changes replaced by `answer`. */
async function backupWithChanges(uris: string[], answer: unknown): Promise<void> {
  const spy = vi.spyOn(EngineClient.prototype, "changes").mockResolvedValue(answer as never);
  const repository = await openLocalRepository(repo);
  try {
    const scope = {};
    const sources = uris.map((uri) => dockerSource(uri, {}, scope, { DOCKER_HOST: engine.dockerHost }));
    for (const source of sources) await source.check();
    const result = await runBackup(repository, { sources });
    expect(result.warnings).toEqual([]);
  } finally {
    spy.mockRestore();
    await repository.close();
  }
}

beforeAll(async () => {
  engine = await startDockerEngine();
  work = await tempDir("cairn-docker-edge-");
  repo = join(work.path, "repo");
  const init = await runCairn(["-r", repo, "init"]);
  expect(init.code, init.stderr).toBe(0);
  await buildTestImage(engine, IMAGE, { "/etc/edge": "base\n" });
});

afterAll(async () => {
  await engine?.stop();
  await work?.cleanup();
});

describe("a container that changed nothing", () => {
  it("is stored with an empty change list and comes back from its image", async () => {
    await createContainer(engine, "edge-fresh", { Image: IMAGE, Cmd: ["true"] });
    await expectOk(["backup", "docker:container/edge-fresh"]);
    expect((await cairn(["dump", "latest", "/docker/containers/edge-fresh/changes.json"])).stdout).toBe("[]\n");

    await remove(engine, "containers", "edge-fresh");
    await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-fresh"]);
    expect((await inspectContainer(engine, "edge-fresh")).Config.Image).toBe(IMAGE);
  });

  it("comes back from snapshots that stored the engine's null as a Buffer, or a change list that is not one", async () => {
    // What older versions stored for a container without changes.
    await backupWithChanges(["docker:container/edge-fresh"], Buffer.from("null\n"));
    expect(JSON.parse((await cairn(["dump", "latest", "/docker/containers/edge-fresh/changes.json"])).stdout)).toEqual({ type: "Buffer", data: [110, 117, 108, 108, 10] });
    await remove(engine, "containers", "edge-fresh");
    await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-fresh"]);
    expect((await inspectContainer(engine, "edge-fresh")).Config.Image).toBe(IMAGE);

    // Unknown changes: the whole stored file system is used.
    await backupWithChanges(["docker:container/edge-fresh"], { unexpected: true });
    await remove(engine, "containers", "edge-fresh");
    const out = await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-fresh"]);
    expect(out).toContain("container edge-fresh: its stored changes.json is not a list of changes; importing its stored file system as the image cairn-restore/edge-fresh");
    expect((await inspectContainer(engine, "edge-fresh")).Config.Image).toBe("cairn-restore/edge-fresh:latest");
  });
});

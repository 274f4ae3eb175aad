// Deduplication of image layers across image versions, reading a volume through the engine,
// and the pause guarantee: a container paused for its backup always runs again afterwards,
// including when the backup fails half-way (a repository write failure injected through the
// library API).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { dockerSource } from "../../src/sources/docker/docker-source.js";
import type { VolumeAccess } from "../../src/sources/docker/docker-run.js";
import { initLocalRepository, openLocalRepository } from "../../src/store/open-local.js";
import type { Repository } from "../../src/store/repository.js";
import { walkTree } from "../../src/store/tree/tree-walker.js";
import { runCairn, tempDir } from "../support/cli.js";
import { buildTestImage, dockerCall, startDockerEngine, type DockerEngine } from "../support/docker-engine.js";
import { api, createContainer, inspectContainer, listTar, putFiles } from "./docker-fixtures.js";

let engine: DockerEngine;
let work: { path: string; cleanup: () => Promise<void> };
const env = () => ({ DOCKER_HOST: engine.dockerHost });

beforeAll(async () => {
  engine = await startDockerEngine();
  work = await tempDir("cairn-docker-dd-");
});

afterAll(async () => {
  await engine?.stop();
  await work?.cleanup();
});

interface Summary {
  data_added: number;
  files_read: number;
}

async function backupJson(repo: string, args: string[]): Promise<Summary> {
  const r = await runCairn(["-r", repo, "--json", "backup", ...args], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { message_type: string } & Summary);
  return lines.find((l) => l.message_type === "summary")!;
}

describe("image deduplication", () => {
  it("stores only the new layer of version 2 of an image", async () => {
    const repo = join(work.path, "dedup-repo");
    expect((await runCairn(["-r", repo, "init"])).code).toBe(0);
    await buildTestImage(engine, "cairn-dd/app:1", { "/opt/app/data.bin": randomBytes(512 * 1024).toString("base64") });
    const v1 = await backupJson(repo, ["docker:image/cairn-dd/app:1"]);

    // Version 2: version 1 plus a layer with one more file, as `docker commit` makes it.
    const id = await createContainer(engine, "dd-build", { Image: "cairn-dd/app:1" });
    await putFiles(engine, id, [{ name: "opt/app/extra.txt", mode: 0o644, content: randomBytes(20 * 1024).toString("hex") }]);
    await dockerCall(engine, "POST", `/commit?container=${id}&repo=cairn-dd/app&tag=2`);
    const saved = await listTar(await dockerCall(engine, "GET", "/images/cairn-dd/app:2/get"));
    const layers = [...saved.entries()].filter(([name]) => name.endsWith("layer.tar")).map(([, e]) => e.size);
    expect(layers).toHaveLength(2);
    const newLayer = Math.min(...layers);

    const v2 = await backupJson(repo, ["docker:image/cairn-dd/app:2"]);
    const overhead = v2.data_added - newLayer;
    console.log(`dedup: v1 added ${v1.data_added} bytes; v2 added ${v2.data_added} bytes = new layer ${newLayer} + ${overhead} (config, manifest, inspect document)`);
    expect(v1.data_added).toBeGreaterThan(2 * 1024 * 1024);
    expect(v2.data_added).toBeGreaterThanOrEqual(newLayer);
    expect(overhead).toBeLessThan(8 * 1024);

    // Unchanged since the last snapshot: not even read from the engine again.
    const again = await backupJson(repo, ["docker:image/cairn-dd/app:2"]);
    expect(again.files_read).toBe(0);
    expect(again.data_added).toBeLessThan(2048);
  });
});

async function openRepo(name: string): Promise<Repository> {
  const dir = join(work.path, name);
  await initLocalRepository(dir);
  return openLocalRepository(dir);
}

/** Path -> [type, mode, uid, gid, content] of everything below `start` in the newest snapshot. */
async function treeListing(repo: Repository, start: string): Promise<Map<string, unknown[]>> {
  const snapshots = await repo.listSnapshots();
  const newest = snapshots.sort((a, b) => a.time.localeCompare(b.time)).at(-1)!;
  const listing = new Map<string, unknown[]>();
  for await (const { path, node } of walkTree(repo, newest.tree, { start })) listing.set(path, [node.type, node.mode, node.uid, node.gid, node.content ?? null]);
  return listing;
}

describe("volumes", () => {
  it("reads a volume the same through its mountpoint and through the engine", async () => {
    await api(engine, "POST", "/volumes/create", { Name: "dd-vol" });
    await buildTestImage(engine, "cairn-dd/tool:1");
    const id = await createContainer(engine, "dd-vol-user", { Image: "cairn-dd/tool:1", HostConfig: { Binds: ["dd-vol:/v"] } });
    await putFiles(engine, id, [
      { name: "v", type: "directory", mode: 0o711, uid: 70, gid: 70 },
      { name: "v/a", mode: 0o4755, uid: 70, gid: 0, content: "setuid\n" },
      { name: "v/sub", type: "directory", mode: 0o700, uid: 1, gid: 2 },
      { name: "v/sub/b", mode: 0o600, uid: 1, gid: 2, content: "deep\n" },
      { name: "v/l", type: "symlink", mode: 0o777, linkname: "sub/b" },
    ]);
    const listings: Map<string, unknown[]>[] = [];
    for (const volumeAccess of ["auto", "engine"] as VolumeAccess[]) {
      const repo = await openRepo(`vol-${volumeAccess}`);
      try {
        const source = dockerSource("docker:volume/dd-vol", { volumeAccess }, {}, env());
        await source.check();
        const result = await runBackup(repo, { sources: [source] });
        expect(result.warnings).toEqual([]);
        listings.push(await treeListing(repo, "/docker/volumes/dd-vol/data"));
      } finally {
        await repo.close();
      }
    }
    expect(listings[0]!.get("/docker/volumes/dd-vol/data/sub/b")).toEqual(["file", 0o600, 1, 2, expect.any(Array)]);
    expect(listings[1]).toEqual(listings[0]);
    // The helper container and its image are gone.
    const containers = await api<{ Labels: Record<string, string> }[]>(engine, "GET", "/containers/json?all=1");
    expect(containers.filter((c) => c.Labels["cairn.helper"])).toEqual([]);
  });
});

describe("pausing", () => {
  let container: string;

  beforeAll(async () => {
    await buildTestImage(engine, "cairn-dd/busy:1", { "/srv/file": "x".repeat(5000) });
    container = await createContainer(engine, "dd-busy", { Image: "cairn-dd/busy:1" });
    await dockerCall(engine, "POST", `/containers/${container}/start`);
  });

  /**
   * Backs up the container; the first data blob of its file system looks at the container's
   * state and, when `fail`, makes the repository write fail.
   */
  async function backupObserving(pause: boolean, fail: boolean): Promise<{ during: { Running: boolean; Paused: boolean } | undefined; error?: Error }> {
    const repo = await openRepo(`pause-${pause}-${fail}-${Date.now()}`);
    let inRootfs = false;
    let during: { Running: boolean; Paused: boolean } | undefined;
    const save = repo.saveBlob.bind(repo);
    repo.saveBlob = async (type, plain) => {
      if (inRootfs && !during) {
        during = (await inspectContainer(engine, "dd-busy")).State;
        if (fail) throw new Error("injected repository write failure");
      }
      return save(type, plain);
    };
    try {
      const source = dockerSource("docker:container/dd-busy", { pause }, {}, env());
      await source.check();
      await runBackup(repo, { sources: [source], onFile: (path) => (inRootfs ||= path.includes("/rootfs/")) });
      return { during };
    } catch (err) {
      return { during, error: err as Error };
    } finally {
      repo.saveBlob = save;
      await repo.close().catch(() => undefined);
    }
  }

  it("pauses a running container while reading it and unpauses it afterwards", async () => {
    const { during, error } = await backupObserving(true, false);
    expect(error).toBeUndefined();
    expect(during).toMatchObject({ Running: true, Paused: true });
    expect((await inspectContainer(engine, "dd-busy")).State).toMatchObject({ Running: true, Paused: false });
  });

  it("unpauses it when the backup fails", async () => {
    const { during, error } = await backupObserving(true, true);
    expect(error?.message).toBe("injected repository write failure");
    expect(during).toMatchObject({ Paused: true });
    expect((await inspectContainer(engine, "dd-busy")).State).toMatchObject({ Running: true, Paused: false });
  });

  it("leaves it running with --no-pause", async () => {
    const { during, error } = await backupObserving(false, false);
    expect(error).toBeUndefined();
    expect(during).toMatchObject({ Running: true, Paused: false });
    const r = await runCairn(["-r", join(work.path, "cli-nopause"), "init"]);
    expect(r.code).toBe(0);
    const backup = await runCairn(["-r", join(work.path, "cli-nopause"), "backup", "--no-pause", "docker:container/dd-busy"], { env: env() });
    expect(backup.code, backup.stderr).toBe(0);
  });
});

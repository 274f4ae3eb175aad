// Containers and images that are unusual but common on real hosts, backed up and put back on a
// real engine: a container that changed nothing, one on several networks, one sharing another's
// network namespace, an image restored under one of several tags; what a backup does when a
// container or the engine goes away half-way; a restore interrupted with Ctrl-C; a read-only
// container with --tmpfs and --init; a volume on a host directory; a file name that is not
// UTF-8; and labels that select nothing.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runBackup } from "../../src/backup/archiver.js";
import { dockerSource } from "../../src/sources/docker/docker-source.js";
import { EngineClient } from "../../src/sources/docker/engine-client.js";
import { openLocalRepository } from "../../src/store/open-local.js";
import { CAIRN_BIN, runCairn, tempDir } from "../support/cli.js";
import { buildTestImage, dockerCall, startDockerEngine, type DockerEngine } from "../support/docker-engine.js";
import { api, createContainer, dyingEngine, inspectContainer, putFiles, remove, volumeListing } from "./docker-fixtures.js";

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

interface Networked {
  Id: string;
  Config: { Hostname: string };
  HostConfig: { NetworkMode: string };
  State: { Running: boolean };
  NetworkSettings: { Networks: Record<string, { Aliases: string[] | null }> };
}

describe("networking", () => {
  it("puts back a container on two networks, one sharing its network namespace, and one on the host network", async () => {
    for (const name of ["edge-net1", "edge-net2"]) await api(engine, "POST", "/networks/create", { Name: name });
    await createContainer(engine, "edge-multi", { Image: IMAGE, Hostname: "multi", HostConfig: { NetworkMode: "edge-net1" }, NetworkingConfig: { EndpointsConfig: { "edge-net1": { Aliases: ["one"] } } } });
    await api(engine, "POST", "/networks/edge-net2/connect", { Container: "edge-multi", EndpointConfig: { Aliases: ["two"] } });
    await createContainer(engine, "edge-side", { Image: IMAGE, HostConfig: { NetworkMode: "container:edge-multi" } });
    await createContainer(engine, "edge-host", { Image: IMAGE, HostConfig: { NetworkMode: "host" } });
    for (const name of ["edge-multi", "edge-side", "edge-host"]) await dockerCall(engine, "POST", `/containers/${name}/start`);
    const before = await api<Networked>(engine, "GET", "/containers/edge-multi/json");
    const oldShortId = before.Id.slice(0, 12);

    await expectOk(["backup", "docker:container/edge-multi", "docker:container/edge-side", "docker:container/edge-host"]);
    for (const name of ["edge-side", "edge-multi", "edge-host"]) await remove(engine, "containers", name);
    for (const name of ["edge-net1", "edge-net2"]) await remove(engine, "networks", name);
    await expectOk(["restore", "latest", "--to-docker"]);

    const multi = await api<Networked>(engine, "GET", "/containers/edge-multi/json");
    expect(multi.State.Running).toBe(true);
    expect(Object.keys(multi.NetworkSettings.Networks).sort()).toEqual(["edge-net1", "edge-net2"]);
    expect(multi.NetworkSettings.Networks["edge-net1"]!.Aliases).toContain("one");
    expect(multi.NetworkSettings.Networks["edge-net2"]!.Aliases).toContain("two");
    // The engine adds the container's short id (and its hostname) as aliases; the old id is not carried over.
    for (const endpoint of Object.values(multi.NetworkSettings.Networks)) expect(endpoint.Aliases).not.toContain(oldShortId);
    const side = await api<Networked>(engine, "GET", "/containers/edge-side/json");
    expect(side.HostConfig.NetworkMode).toBe(`container:${multi.Id}`);
    expect(side.State.Running).toBe(true);
    const host = await api<Networked>(engine, "GET", "/containers/edge-host/json");
    expect(host.HostConfig.NetworkMode).toBe("host");
    expect(host.State.Running).toBe(true);

    // --only the container in another's namespace brings that one back too, when the engine lacks it.
    for (const name of ["edge-side", "edge-multi"]) await remove(engine, "containers", name);
    await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-side"]);
    const again = await api<Networked>(engine, "GET", "/containers/edge-multi/json");
    expect((await api<Networked>(engine, "GET", "/containers/edge-side/json")).HostConfig.NetworkMode).toBe(`container:${again.Id}`);
  });
});

describe("a container backed up twice, unchanged", () => {
  it("shows no difference: mounts and changes are stored in a fixed order", async () => {
    await api(engine, "POST", "/volumes/create", { Name: "edge-m1" });
    await api(engine, "POST", "/volumes/create", { Name: "edge-m2" });
    await createContainer(engine, "edge-twice", { Image: IMAGE, HostConfig: { Binds: ["edge-m2:/m2", "edge-m1:/m1"] } });
    await putFiles(engine, "edge-twice", [{ name: "b", mode: 0o644, content: "b" }, { name: "a", mode: 0o644, content: "a" }]);
    await expectOk(["backup", "docker:container/edge-twice"]);
    const first = JSON.parse((await cairn(["--json", "snapshots"])).stdout).at(-1).id as string;
    await expectOk(["backup", "docker:container/edge-twice"]);
    const diff = await cairn(["diff", first.slice(0, 8), "latest"]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).not.toMatch(/^M /m);
    const mounts = JSON.parse((await cairn(["dump", "latest", "/docker/containers/edge-twice/config.json"])).stdout).Mounts as { Destination: string }[];
    expect(mounts.map((m) => m.Destination)).toEqual(["/m1", "/m2"]);
  });
});

describe("a container its owner had paused", () => {
  it("stays paused through the backup and comes back paused", async () => {
    await createContainer(engine, "edge-paused", { Image: IMAGE });
    await dockerCall(engine, "POST", "/containers/edge-paused/start");
    await dockerCall(engine, "POST", "/containers/edge-paused/pause");
    await expectOk(["backup", "docker:container/edge-paused"]);
    expect((await inspectContainer(engine, "edge-paused")).State).toMatchObject({ Running: true, Paused: true });

    await remove(engine, "containers", "edge-paused");
    const out = await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-paused"]);
    expect(out).toMatch(/container edge-paused: \S+ from image edge\/base:1, started, paused/);
    expect((await inspectContainer(engine, "edge-paused")).State).toMatchObject({ Running: true, Paused: true });
  });
});

describe("a container removed during docker:all", () => {
  it("is a warning; the others are stored", async () => {
    const labels = { "edge.removed": "yes" };
    for (const name of ["edge-gone", "edge-stays"]) {
      await createContainer(engine, name, { Image: IMAGE, Labels: labels });
      await dockerCall(engine, "POST", `/containers/${name}/start`);
    }
    const repository = await openLocalRepository(repo);
    let removed = false;
    let current = "";
    const save = repository.saveBlob.bind(repository);
    // Removed, paused, while its file system is being stored.
    repository.saveBlob = async (type, plain) => {
      if (!removed && current.includes("/containers/edge-gone/rootfs/")) {
        removed = true;
        await remove(engine, "containers", "edge-gone");
      }
      return save(type, plain);
    };
    try {
      const source = dockerSource("docker:all", { labels: ["edge.removed=yes"] }, {}, { DOCKER_HOST: engine.dockerHost });
      await source.check();
      const result = await runBackup(repository, { sources: [source], onFile: (path) => (current = path) });
      expect(removed).toBe(true);
      expect(result.warnings).toEqual([{ path: "docker:container/edge-gone", message: "container edge-gone was removed while it was backed up; it is not stored" }]);
    } finally {
      repository.saveBlob = save;
      await repository.close();
    }
    const ls = (await cairn(["ls", "latest", "/docker/containers"])).stdout;
    expect(ls).toContain("/docker/containers/edge-stays/config.json");
    expect(ls).not.toContain("/docker/containers/edge-gone");
    expect((await inspectContainer(engine, "edge-stays")).State).toMatchObject({ Running: true, Paused: false });
  });
});

describe("the engine dying during a backup", () => {
  it("is one line naming the engine, after the warning about the container it left paused", async () => {
    await createContainer(engine, "edge-dies", { Image: IMAGE });
    await dockerCall(engine, "POST", "/containers/edge-dies/start");
    const dockerHost = await dyingEngine(engine, join(work.path, "dying.sock"), /^GET \S*\/containers\/\S+\/export/, 64 * 1024);
    try {
      const r = await cairn(["backup", "docker:container/edge-dies"], { DOCKER_HOST: dockerHost });
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines.at(-1)).toBe(`cairn: cannot reach the Docker engine at ${join(work.path, "dying.sock")}: no such socket`);
      expect(r.stderr).toContain("could not unpause container edge-dies after reading it");
      expect(r.stderr).not.toContain("internal error");
    } finally {
      await dockerCall(engine, "POST", "/containers/edge-dies/unpause");
    }
  });
});

describe("an image with several tags", () => {
  it("comes back under the tag --only names", async () => {
    const id = (await api<{ Id: string }>(engine, "GET", `/images/${IMAGE}/json`)).Id;
    await dockerCall(engine, "POST", `/images/${IMAGE}/tag?repo=localhost:5000/team/app&tag=1.0`);
    await dockerCall(engine, "POST", `/images/${IMAGE}/tag?repo=edge/other&tag=2`);
    // Stored twice (same id), and edge/other:2 only as a tag in the inspect documents.
    await expectOk(["backup", `docker:image/${IMAGE}`, "docker:image/localhost:5000/team/app:1.0"]);
    for (const tag of ["localhost:5000/team/app:1.0", "edge/other:2"]) {
      await dockerCall(engine, "DELETE", `/images/${tag}`);
      const out = await expectOk(["restore", "latest", "--to-docker", "--only", "image", tag]);
      expect(out).toContain("restored 0 image(s) (1 already present)");
      expect((await api<{ Id: string }>(engine, "GET", `/images/${tag}/json`)).Id).toBe(id);
    }
  });

  it("comes back with every tag it had, not only the one it was stored under", async () => {
    const id = (await api<{ Id: string }>(engine, "GET", `/images/${IMAGE}/json`)).Id;
    await dockerCall(engine, "POST", `/images/${IMAGE}/tag?repo=edge/also&tag=latest`);
    await expectOk(["backup", `docker:image/${IMAGE}`]);
    for (const tag of [IMAGE, "edge/also:latest"]) await dockerCall(engine, "DELETE", `/images/${tag}?force=1`);
    await expectOk(["restore", "latest", "--to-docker", "--only", "image", IMAGE]);
    for (const tag of [IMAGE, "edge/also:latest"]) expect((await api<{ Id: string }>(engine, "GET", `/images/${tag}/json`)).Id, tag).toBe(id);
  });
});

describe("--only container", () => {
  it("fills an existing empty volume the container needs", async () => {
    await api(engine, "POST", "/volumes/create", { Name: "edge-data" });
    await createContainer(engine, "edge-vol", { Image: IMAGE, HostConfig: { Binds: ["edge-data:/data"] } });
    await putFiles(engine, "edge-vol", [{ name: "data/kept", mode: 0o640, uid: 7, gid: 7, content: "stored\n" }]);
    await expectOk(["backup", "docker:container/edge-vol"]);
    const before = await volumeListing(engine, "edge-data", IMAGE);
    await remove(engine, "containers", "edge-vol");
    await remove(engine, "volumes", "edge-data");
    await api(engine, "POST", "/volumes/create", { Name: "edge-data" });

    await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-vol"]);
    expect(await volumeListing(engine, "edge-data", IMAGE)).toEqual(before);
    expect(before.get("v/kept")).toMatchObject({ uid: 7, gid: 7, size: 7 });
  });
});

describe("a read-only container with --tmpfs and --init", () => {
  it("comes back: the tmpfs mount point and the init binary the engine lists as changes are not written into it", async () => {
    await createContainer(engine, "edge-ro", { Image: IMAGE, HostConfig: { ReadonlyRootfs: true, Tmpfs: { "/run": "" }, Init: true } });
    await dockerCall(engine, "POST", "/containers/edge-ro/start");
    await expectOk(["backup", "docker:container/edge-ro"]);
    const out = await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-ro", "--force"]);
    expect(out).toMatch(/container edge-ro: \S+ from image edge\/base:1, started/);
    expect((await inspectContainer(engine, "edge-ro")).HostConfig).toMatchObject({ ReadonlyRootfs: true, Tmpfs: { "/run": "" }, Init: true });
  });
});

describe("a volume whose storage is a host directory (local driver, bind options)", () => {
  it("is not filled over data its directory holds without --force; with it, the snapshot's files come back", async () => {
    const device = join(work.path, "bind-device");
    await fs.mkdir(device);
    await fs.writeFile(join(device, "state"), "as backed up\n");
    await api(engine, "POST", "/volumes/create", { Name: "edge-bind", DriverOpts: { type: "none", o: "bind", device } });
    await createContainer(engine, "edge-bindc", { Image: IMAGE, HostConfig: { Binds: ["edge-bind:/data"] } });
    await expectOk(["backup", "docker:container/edge-bindc"]);
    await remove(engine, "containers", "edge-bindc");
    await remove(engine, "volumes", "edge-bind");
    // Life went on in the directory: a new machine pointed at the same storage must not roll it back.
    await fs.writeFile(join(device, "state"), "newer\n");

    const refused = await cairn(["restore", "latest", "--to-docker", "--only", "volume", "edge-bind"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cairn: volume edge-bind: its storage (device ${device}) already holds data; nothing was restored; use --force`);
    expect(await fs.readFile(join(device, "state"), "utf8")).toBe("newer\n");

    await expectOk(["restore", "latest", "--to-docker", "--only", "volume", "edge-bind", "--force"]);
    expect(await fs.readFile(join(device, "state"), "utf8")).toBe("as backed up\n");
  });
});

describe("a name that is not UTF-8 among a container's own changes", () => {
  it("comes back with its bytes, not with U+FFFD", async () => {
    await createContainer(engine, "edge-bytes", { Image: IMAGE });
    const dir = join(work.path, "bytes-src");
    await fs.mkdir(join(dir, "new"), { recursive: true });
    const name = Buffer.from([0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "n\xe9.txt"
    await fs.writeFile(Buffer.concat([Buffer.from(join(dir, "new") + "/"), name]), "x\n");
    await dockerCall(engine, "PUT", "/containers/edge-bytes/archive?path=/", execFileSync("tar", ["-C", dir, "-cf", "-", "new"]));
    await expectOk(["backup", "docker:container/edge-bytes"]);
    await remove(engine, "containers", "edge-bytes");

    const out = await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-bytes"]);
    expect(out).toMatch(/container edge-bytes: \S+ from image edge\/base:1/);
    const into = join(work.path, "bytes-out");
    await fs.mkdir(into);
    execFileSync("tar", ["-C", into, "-xf", "-"], { input: await dockerCall(engine, "GET", "/containers/edge-bytes/archive?path=/new") });
    expect(await fs.readdir(join(into, "new"), { encoding: "buffer" })).toEqual([name]);
  });
});

describe("a container restored twice from its stored file system", () => {
  it("leaves no dangling image behind: the earlier restore's image goes when the new one takes its name", async () => {
    await createContainer(engine, "edge-twofs", { Image: IMAGE });
    // A change list that is not one: the container comes back from its stored file system.
    await backupWithChanges(["docker:container/edge-twofs"], { unexpected: true });
    await remove(engine, "containers", "edge-twofs");
    const dangling = async () => (await api<unknown[]>(engine, "GET", `/images/json?filters=${encodeURIComponent(JSON.stringify({ dangling: ["true"] }))}`)).length;
    await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-twofs"]);
    const before = await dangling();
    const out = await expectOk(["restore", "latest", "--to-docker", "--only", "container", "edge-twofs", "--force"]);
    expect(out).toContain("importing its stored file system as the image cairn-restore/edge-twofs");
    expect(await dangling()).toBe(before);
  });
});

describe("an interrupted restore --to-docker", () => {
  it("130: SIGINT while a volume is filled removes its helper; the restore run again with --force completes", async () => {
    await api(engine, "POST", "/volumes/create", { Name: "edge-big" });
    await createContainer(engine, "edge-big-writer", { Image: IMAGE, HostConfig: { Binds: ["edge-big:/data"] } });
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `data/part${i}`, mode: 0o644, content: randomBytes(15 * 1024 * 1024).toString("base64") }));
    await putFiles(engine, "edge-big-writer", files);
    await remove(engine, "containers", "edge-big-writer");
    await expectOk(["backup", "docker:volume/edge-big"]);
    const before = await volumeListing(engine, "edge-big", IMAGE);
    await remove(engine, "volumes", "edge-big");

    const helpers = () => api<unknown[]>(engine, "GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ["cairn.helper=true"] }))}`);
    const child = spawn(process.execPath, [CAIRN_BIN, "-r", repo, "restore", "latest", "--to-docker", "--only", "volume", "edge-big"], {
      env: { ...process.env, DOCKER_HOST: engine.dockerHost },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, "close");
    // The helper container exists while the volume is being filled.
    while ((await helpers()).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill("SIGINT");
    const [code] = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^cairn: interrupted at volume edge-big: what was restored before it stays in the engine/m);
    expect(await helpers()).toEqual([]);
    expect(await fs.readdir(join(repo, "locks"))).toEqual([]);

    await expectOk(["restore", "latest", "--to-docker", "--only", "volume", "edge-big", "--force"]);
    expect(await volumeListing(engine, "edge-big", IMAGE)).toEqual(before);
  });
});

describe("labels that select nothing", () => {
  it("fail the backup with one line before anything is written, instead of an empty snapshot", async () => {
    const snapshots = () => fs.readdir(join(repo, "snapshots")).catch(() => []);
    const before = await snapshots();
    const r = await cairn(["backup", "--docker-label", "edge.none=here"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cairn: docker:all: no container or volume carries the label edge.none=here; nothing was written\n");
    expect(await snapshots()).toEqual(before);
  });
});

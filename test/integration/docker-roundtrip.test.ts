// A whole Docker host backed up with one command and put back with another, on a real engine:
// images (same id, and they run), containers (same files and configuration, running again),
// volumes (same files, owners and modes); plus the errors a user can run into.
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCairn, tempDir } from "../support/cli.js";
import { buildTestImage, dockerCall, startDockerEngine, type DockerEngine } from "../support/docker-engine.js";
import { api, createContainer, exec, exportListing, inspectContainer, putFiles, remove, runImage, volumeListing, type Inspect, type ListedEntry } from "./docker-fixtures.js";

let engine: DockerEngine;
let work: { path: string; cleanup: () => Promise<void> };
let repo: string;
let imageId: string;
const IMAGE = "cairn-rt/app:1";

const cairn = (args: string[], env: NodeJS.ProcessEnv = {}) => runCairn(["-r", repo, ...args], { env: { DOCKER_HOST: engine.dockerHost, ...env } });
const snapshotCount = async () => (await fs.readdir(join(repo, "snapshots"))).length;

const before: { web?: Inspect; trim?: Inspect; webFiles?: Map<string, ListedEntry>; trimFiles?: Map<string, ListedEntry>; data?: Map<string, ListedEntry> } = {};

beforeAll(async () => {
  engine = await startDockerEngine();
  work = await tempDir("cairn-docker-rt-");
  repo = join(work.path, "repo");
  const init = await runCairn(["-r", repo, "init"]);
  expect(init.code, init.stderr).toBe(0);

  imageId = await buildTestImage(engine, IMAGE, { "/etc/app/conf": "v1\n", "/etc/app/drop": "goes away\n" });
  await api(engine, "POST", "/volumes/create", { Name: "rt-data", Labels: { purpose: "test" } });
  await api(engine, "POST", "/networks/create", { Name: "rt-net", Labels: { purpose: "test" } });

  // rt-web only adds and changes files: it comes back from its image plus those files.
  await createContainer(engine, "rt-web", {
    Image: IMAGE,
    Env: ["MODE=production", "TOKEN=s3cret"],
    Labels: { "cairn.backup": "true" },
    WorkingDir: "/srv",
    HostConfig: { Binds: ["rt-data:/data"], RestartPolicy: { Name: "unless-stopped" }, NetworkMode: "rt-net" },
    NetworkingConfig: { EndpointsConfig: { "rt-net": { Aliases: ["web"] } } },
  });
  await dockerCall(engine, "POST", "/containers/rt-web/start");
  await putFiles(engine, "rt-web", [
    { name: "srv", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
    { name: "srv/new.txt", mode: 0o640, uid: 1000, gid: 1000, content: "added after start\n" },
    { name: "srv/link", type: "symlink", mode: 0o777, linkname: "new.txt" },
    { name: "etc/app/conf", mode: 0o600, content: "v2, edited in the container\n" },
    // Into the volume, through the container's mount.
    { name: "data", type: "directory", mode: 0o700, uid: 999, gid: 999 },
    { name: "data/db", type: "directory", mode: 0o750, uid: 999, gid: 999 },
    { name: "data/db/table", mode: 0o600, uid: 999, gid: 999, content: "row 1\nrow 2\n" },
    { name: "data/README", mode: 0o444, content: "volume data\n" },
  ]);

  // rt-trim deleted a file of its image: it comes back from its whole stored file system.
  await createContainer(engine, "rt-trim", { Image: IMAGE, Cmd: ["/bin/sleep", "3000"] });
  await dockerCall(engine, "POST", "/containers/rt-trim/start");
  expect(await exec(engine, "rt-trim", ["rm", "/etc/app/drop"])).toBe(0);

  before.web = await inspectContainer(engine, "rt-web");
  before.trim = await inspectContainer(engine, "rt-trim");
  before.webFiles = await exportListing(engine, "rt-web");
  before.trimFiles = await exportListing(engine, "rt-trim");
  before.data = await volumeListing(engine, "rt-data", IMAGE);
});

afterAll(async () => {
  await engine?.stop();
  await work?.cleanup();
});

describe("docker:all backup and restore --to-docker", () => {
  it("backs up every container with its image and volumes, as trees of files", async () => {
    const r = await cairn(["backup", "docker:all", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const listed = await cairn(["--json", "snapshots"]);
    expect(listed.code, listed.stderr).toBe(0);
    const snapshots = JSON.parse(listed.stdout) as { paths: string[]; source: Record<string, string> }[];
    expect(snapshots[0]!.paths).toEqual(["docker:all"]);
    expect(snapshots[0]!.source["docker.engine"]).toMatch(/\d+\.\d+/);

    // Ordinary commands work inside them.
    const ls = await cairn(["ls", "latest", "/docker"]);
    expect(ls.code, ls.stderr).toBe(0);
    for (const path of [
      "/docker/images/cairn-rt/app:1/config.json",
      "/docker/images/cairn-rt/app:1/manifest.json",
      "/docker/containers/rt-web/config.json",
      "/docker/containers/rt-web/rootfs/srv/new.txt",
      "/docker/containers/rt-trim/rootfs/etc/app/conf",
      "/docker/volumes/rt-data/volume.json",
      "/docker/volumes/rt-data/data/db/table",
      "/docker/networks/rt-net/network.json",
    ]) {
      expect(ls.stdout).toContain(path + "\n");
    }
    expect(ls.stdout).not.toContain("/docker/containers/rt-trim/rootfs/etc/app/drop");
    expect(ls.stdout).toMatch(/\/docker\/images\/cairn-rt\/app:1\/layers\/[0-9a-f]{64}\.tar\n/);

    // A part of a volume restores into a directory with its owners and modes.
    const out = join(work.path, "out");
    const restored = await cairn(["restore", "latest:/docker/volumes/rt-data/data/db", "--target", out]);
    expect(restored.code, restored.stderr).toBe(0);
    const st = await fs.stat(join(out, "table"));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([999, 999, 0o600]);
    expect(await fs.readFile(join(out, "table"), "utf8")).toBe("row 1\nrow 2\n");

    // Paused for the backup, running again after it.
    for (const name of ["rt-web", "rt-trim"]) expect((await inspectContainer(engine, name)).State).toMatchObject({ Running: true, Paused: false });
  });

  it("puts the host back as it was, in one command", async () => {
    await remove(engine, "containers", "rt-web");
    await remove(engine, "containers", "rt-trim");
    await remove(engine, "volumes", "rt-data");
    await remove(engine, "images", IMAGE);
    await remove(engine, "networks", "rt-net");
    expect((await dockerCall(engine, "GET", "/images/json")).toString()).not.toContain(imageId);

    const r = await cairn(["restore", "latest", "--to-docker"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("restored 1 image(s) (0 already present), 1 volume(s), 1 network(s), 2 container(s)");

    // The image: same id, and it runs.
    expect((await api<{ Id: string }>(engine, "GET", `/images/${IMAGE}/json`)).Id).toBe(imageId);
    expect(await runImage(engine, IMAGE, ["cat", "/etc/app/conf"])).toBe("v1\n");

    // The containers: same files, same configuration, running.
    const web = await inspectContainer(engine, "rt-web");
    const trim = await inspectContainer(engine, "rt-trim");
    expect(await exportListing(engine, "rt-web")).toEqual(before.webFiles);
    expect(await exportListing(engine, "rt-trim")).toEqual(before.trimFiles);
    for (const [now, then] of [
      [web, before.web!],
      [trim, before.trim!],
    ] as const) {
      for (const key of ["Cmd", "Entrypoint", "Env", "Labels", "WorkingDir", "User", "Hostname"]) expect(now.Config[key], key).toEqual(then.Config[key]);
      for (const key of ["Binds", "NetworkMode", "RestartPolicy"]) expect(now.HostConfig[key], key).toEqual(then.HostConfig[key]);
      expect(now.Mounts.map((m) => [m.Name, m.Destination, m.RW])).toEqual(then.Mounts.map((m) => [m.Name, m.Destination, m.RW]));
      expect(now.State).toMatchObject({ Running: true, Paused: false });
    }
    // rt-web shares its image again; rt-trim, which deleted a file of it, is its own image.
    expect(web.Image).toBe(imageId);
    expect(web.Config.Image).toBe(IMAGE);
    expect(trim.Config.Image).toBe("cairn-restore/rt-trim:latest");

    // The network it was attached to, with its alias there.
    expect((await api<{ Labels: Record<string, string> }>(engine, "GET", "/networks/rt-net")).Labels).toEqual({ purpose: "test" });
    const endpoint = (web as unknown as { NetworkSettings: { Networks: Record<string, { Aliases: string[] }> } }).NetworkSettings.Networks["rt-net"];
    expect(endpoint?.Aliases).toContain("web");

    // The volume: same files, owners and modes, and its labels.
    expect(await volumeListing(engine, "rt-data", IMAGE)).toEqual(before.data);
    expect((await api<{ Labels: Record<string, string> }>(engine, "GET", "/volumes/rt-data")).Labels).toEqual({ purpose: "test" });
  });

  it("refuses to overwrite a container or a non-empty volume unless --force", async () => {
    const again = await cairn(["restore", "latest", "--to-docker", "--only", "container", "rt-web"]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toMatch(/^cairn: container rt-web already exists in the engine; use --force to replace it$/m);

    const volume = await cairn(["restore", "latest", "--to-docker", "--only", "volume/rt-data"]);
    expect(volume.code).toBe(1);
    expect(volume.stderr).toContain("cairn: volume rt-data already exists and is not empty; use --force to replace it");

    await putFiles(engine, "rt-web", [{ name: "srv/new.txt", mode: 0o640, uid: 1000, gid: 1000, content: "changed since the backup\n" }]);
    const forced = await cairn(["restore", "latest", "--to-docker", "--force", "--only", "container", "rt-web"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await exportListing(engine, "rt-web")).toEqual(before.webFiles);

    // An image the engine still has (rt-web uses it) but under no tag: only the tag comes back.
    await dockerCall(engine, "DELETE", `/images/${IMAGE}?force=1`);
    const retag = await cairn(["restore", "latest", "--to-docker", "--only", "image", IMAGE]);
    expect(retag.code, retag.stderr).toBe(0);
    expect(retag.stdout).toContain("restored 0 image(s) (1 already present)");
    expect((await api<{ Id: string }>(engine, "GET", `/images/${IMAGE}/json`)).Id).toBe(imageId);

    const unknown = await cairn(["restore", "latest", "--to-docker", "--only", "container", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("cairn: the snapshot has no container named nope");
  });
});

describe("bad input", () => {
  it("names what is missing in one line and writes no snapshot", async () => {
    const count = await snapshotCount();
    const cases: [string[], NodeJS.ProcessEnv, RegExp, number][] = [
      [["docker:image/no-such-image:1"], {}, /^cairn: no such image: no-such-image:1$/, 1],
      [["docker:container/no-such-container"], {}, /^cairn: no such container: no-such-container$/, 1],
      [["docker:volume/no-such-volume"], {}, /^cairn: no such volume: no-such-volume$/, 1],
      [["docker:all"], { DOCKER_HOST: "unix:///tmp/cairn-no-engine/docker.sock" }, /^cairn: cannot reach the Docker engine at \/tmp\/cairn-no-engine\/docker\.sock: no such socket$/, 1],
      [["docker:volumes/x"], {}, /^cairn: docker:volumes\/x: not a Docker source; use docker:image\/NAME\[:TAG\], docker:container\/NAME, docker:volume\/NAME or docker:all$/, 2],
      [["docker:image/x", "--docker-label", "a=b"], {}, /^cairn: --docker-label selects what docker:all takes: add docker:all$/, 2],
    ];
    for (const [args, env, message, code] of cases) {
      const r = await cairn(["backup", ...args], env);
      expect(r.code, args.join(" ")).toBe(code);
      expect(r.stderr.trim(), args.join(" ")).toMatch(message);
    }
    expect(await snapshotCount()).toBe(count);

    const restore = await cairn(["restore", "latest", "--to-docker"], { DOCKER_HOST: "unix:///tmp/cairn-no-engine/docker.sock" });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain("cairn: cannot reach the Docker engine at /tmp/cairn-no-engine/docker.sock: no such socket");
  });

  it("selects containers and volumes by label", async () => {
    await api(engine, "POST", "/volumes/create", { Name: "rt-labelled", Labels: { "cairn.backup": "true" } });
    const r = await cairn(["backup", "--docker-label", "cairn.backup=true"]);
    expect(r.code, r.stderr).toBe(0);
    const ls = (await cairn(["ls", "latest", "/docker"])).stdout;
    expect(ls).toContain("/docker/containers/rt-web/config.json");
    expect(ls).toContain("/docker/volumes/rt-data/volume.json");
    expect(ls).toContain("/docker/volumes/rt-labelled/volume.json");
    expect(ls).not.toContain("/docker/containers/rt-trim");
  });
});

// A container's or volume's tar becomes a tree of files in the repository and comes back as a
// tar the engine can extract, with every detail intact; plus the pure parts of the Docker
// source and restore: URIs, --only, and the create request rebuilt from an inspect document.
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emptyCounters, type BackupContext, type BackupWarning } from "../../src/backup/backup-context.js";
import { FileBatcher } from "../../src/backup/file-batcher.js";
import { ParentListings } from "../../src/backup/parent-listing.js";
import { parseOnly } from "../../src/cli/restore-docker.js";
import { UsageError } from "../../src/errors.js";
import { normalizeImageRef, parseDockerUri, splitImageRef } from "../../src/sources/docker/docker-uri.js";
import type { ContainerInspect } from "../../src/sources/docker/engine-client.js";
import { imageDir } from "../../src/sources/docker/layout.js";
import { additionalEndpoints, createOptionsFor } from "../../src/sources/docker/container-create-options.js";
import { isUnsupported, readTar } from "../../src/tar/tar-reader.js";
import { paddingFor, type TarHeader } from "../../src/tar/tar-header.js";
import { encodeTarHeader, TAR_END, type TarWriteHeader } from "../../src/tar/tar-writer.js";
import { TarTreeBuilder } from "../../src/sources/docker/tar-to-tree.js";
import { treeToTar } from "../../src/sources/docker/tree-to-tar.js";
import { createTestRepository, type TestRepository } from "../support/repo-fixture.js";

let fixture: TestRepository;

beforeEach(async () => {
  fixture = await createTestRepository({ chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384 } });
});

afterEach(async () => {
  await fixture.cleanup();
});

function context(warnings: BackupWarning[]): BackupContext {
  return {
    repo: fixture.repo,
    changeDetection: { force: false, ignoreInode: false, ignoreCtime: false },
    counters: emptyCounters(),
    exclusionMarkers: [],
    oneFileSystem: false,
    hardlinks: new Map(),
    files: new FileBatcher(fixture.repo),
    parents: new ParentListings(fixture.repo),
    warn: (w) => warnings.push(w),
  };
}

interface Entry {
  header: TarWriteHeader;
  data?: Buffer;
}

function archive(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeTarHeader(e.header));
    if (e.data) parts.push(e.data, Buffer.alloc(paddingFor(e.data.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

async function entriesOf(source: AsyncIterable<Uint8Array>): Promise<Map<string, { header: TarHeader; data: Buffer }>> {
  const out = new Map<string, { header: TarHeader; data: Buffer }>();
  for await (const entry of readTar(source)) {
    if (isUnsupported(entry)) throw new Error(entry.unsupported);
    const parts: Buffer[] = [];
    for await (const p of entry.body) parts.push(p);
    out.set(entry.header.path.toString("latin1").replace(/\/$/, ""), { header: entry.header, data: Buffer.concat(parts) });
  }
  return out;
}

const T = 1_700_000_000_000_000_000n;
const base = { uid: 0, gid: 0, mtimeNs: T };
const big = randomBytes(100_000);
const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
const rawName = Buffer.from([0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "né.txt" in Latin-1: not UTF-8

describe("tar -> tree -> tar", () => {
  it("keeps names, modes, owners, times, links, devices and xattrs", async () => {
    const entries: Entry[] = [
      { header: { ...base, path: Buffer.from("etc"), type: "dir", mode: 0o755 } },
      { header: { ...base, path: Buffer.from("etc/big.bin"), type: "file", mode: 0o640, uid: 3_000_000, gid: 42, uname: "svc", gname: "svc", size: big.length, mtimeNs: T + 123_456_789n }, data: big },
      { header: { ...base, path: Buffer.from("etc/empty"), type: "file", mode: 0o600, size: 0 }, data: Buffer.alloc(0) },
      // Hard links share the inode, hence its owner, mode and times.
      { header: { ...base, path: Buffer.from("etc/hard1"), type: "hardlink", mode: 0o640, uid: 3_000_000, gid: 42, mtimeNs: T + 123_456_789n, linkTarget: Buffer.from("etc/big.bin") } },
      { header: { ...base, path: Buffer.from("etc/hard2"), type: "hardlink", mode: 0o640, uid: 3_000_000, gid: 42, mtimeNs: T + 123_456_789n, linkTarget: Buffer.from("etc/hard1") } },
      { header: { ...base, path: Buffer.from("bin/ping"), type: "file", mode: 0o4755, size: 4, xattrs: [{ name: "security.capability", value: cap }] }, data: Buffer.from("ping") },
      { header: { ...base, path: Buffer.concat([Buffer.from("data/"), rawName]), type: "file", mode: 0o644, size: 2 }, data: Buffer.from("hi") },
      { header: { ...base, path: Buffer.from("data/link"), type: "symlink", mode: 0o777, linkTarget: rawName } },
      { header: { ...base, path: Buffer.from("dev/null"), type: "chardev", mode: 0o666, devMajor: 1, devMinor: 3 } },
      { header: { ...base, path: Buffer.from("dev/loop0"), type: "blockdev", mode: 0o660, devMajor: 7, devMinor: 0 } },
      { header: { ...base, path: Buffer.from("run/fifo"), type: "fifo", mode: 0o620 } },
      { header: { ...base, path: Buffer.from("d".repeat(120) + "/" + "f".repeat(150)), type: "file", mode: 0o644, size: 1 }, data: Buffer.from("x") },
    ];
    const warnings: BackupWarning[] = [];
    const ctx = context(warnings);
    const built = await new TarTreeBuilder(ctx, { snapshotPath: "/docker/containers/c/rootfs" }).read(once(archive(entries)));
    await fixture.repo.flush();
    expect(warnings).toEqual([]);
    expect(ctx.counters.filesNew).toBe(5);

    const nodes = await fixture.repo.loadTree(built.tree);
    const items = nodes.map((node) => ({ path: Buffer.from(node.nameRaw ?? node.name), node, recursive: true }));
    const back = await entriesOf(treeToTar(fixture.repo, items));

    for (const e of entries) {
      const key = e.header.path.toString("latin1");
      const got = back.get(key);
      expect(got, key).toBeDefined();
      const { header } = got!;
      expect(header.mode, key).toBe(e.header.mode);
      expect([header.uid, header.gid, header.mtimeNs], key).toEqual([e.header.uid, e.header.gid, e.header.mtimeNs]);
      if (e.header.type === "hardlink") {
        // The first name of the file carries the content; the others link to it.
        expect(header.type, key).toBe("hardlink");
        expect(header.linkTarget.toString(), key).toBe("etc/big.bin");
        continue;
      }
      expect(header.type, key).toBe(e.header.type);
      expect(header.xattrs, key).toEqual(e.header.xattrs ?? []);
      if (e.data) expect(got!.data.equals(e.data), key).toBe(true);
      if (e.header.linkTarget) expect(header.linkTarget.equals(e.header.linkTarget), key).toBe(true);
      if (e.header.devMajor !== undefined) expect([header.devMajor, header.devMinor], key).toEqual([e.header.devMajor, e.header.devMinor]);
    }
    // Hard links are one inode on a device of their own to this tree.
    const etc = await fixture.repo.loadTree(nodes.find((n) => n.name === "etc")!.subtree!);
    const links = etc.filter((n) => n.name.startsWith("hard") || n.name === "big.bin");
    expect(new Set(links.map((n) => `${n.deviceId}:${n.inode}:${n.links}`)).size).toBe(1);
    expect(links[0]).toMatchObject({ links: 3, inode: 1 });
    expect(links[0]!.deviceId).toBeGreaterThan(2 ** 32);
    // Directories the tar never listed (bin, data, dev, run) exist, owned by root.
    expect(back.get("bin")?.header).toMatchObject({ type: "dir", mode: 0o755, uid: 0 });
  });

  it("counts unchanged files against the parent's tree", async () => {
    const tar = archive([{ header: { ...base, path: Buffer.from("a"), type: "file", mode: 0o644, size: 3 }, data: Buffer.from("abc") }]);
    const first = await new TarTreeBuilder(context([]), { snapshotPath: "/x" }).read(once(tar));
    await fixture.repo.flush();
    const ctx = context([]);
    const second = await new TarTreeBuilder(ctx, { snapshotPath: "/x", previousTree: first.tree }).read(once(tar));
    expect(second.tree).toBe(first.tree);
    expect(ctx.counters).toMatchObject({ filesNew: 0, filesUnmodified: 1, dirsUnmodified: 1 });
  });

  it("takes the top directory's metadata from an archive of a path", async () => {
    const tar = archive([
      { header: { ...base, path: Buffer.from("v/"), type: "dir", mode: 0o700, uid: 999, gid: 999 } },
      { header: { ...base, path: Buffer.from("v/f"), type: "file", mode: 0o600, size: 1 }, data: Buffer.from("1") },
      { header: { ...base, path: Buffer.from("v/../escape"), type: "file", mode: 0o600, size: 1 }, data: Buffer.from("1") },
    ]);
    const warnings: BackupWarning[] = [];
    const built = await new TarTreeBuilder(context(warnings), { strip: 1, snapshotPath: "/docker/volumes/v/data" }).read(once(tar));
    expect(built.root).toMatchObject({ type: "dir", mode: 0o700, uid: 999, gid: 999 });
    await fixture.repo.flush();
    expect((await fixture.repo.loadTree(built.tree)).map((n) => n.name)).toEqual(["f"]);
    expect(warnings).toEqual([{ path: "/docker/volumes/v/data/../escape", message: "path leaves the archive (..), skipped" }]);
  });
});

describe("docker: URIs", () => {
  it("parses every form and refuses the rest", () => {
    expect(parseDockerUri("docker:all")).toEqual({ kind: "all" });
    expect(parseDockerUri("docker:image/busybox")).toEqual({ kind: "image", ref: "busybox:latest" });
    expect(parseDockerUri("docker:image/localhost:5000/team/app:1.2")).toEqual({ kind: "image", ref: "localhost:5000/team/app:1.2" });
    expect(parseDockerUri("docker:container/web-1")).toEqual({ kind: "container", name: "web-1" });
    expect(parseDockerUri("docker:volume/pg_data")).toEqual({ kind: "volume", name: "pg_data" });
    for (const bad of ["docker:", "docker:alls", "docker:image/", "docker:container/", "docker:container/a/b", "docker:volume/-x", "docker:network/n"]) {
      expect(() => parseDockerUri(bad), bad).toThrow(UsageError);
    }
  });

  it("normalizes image references the way the engine lists them", () => {
    expect(normalizeImageRef("localhost:5000/app")).toBe("localhost:5000/app:latest");
    expect(normalizeImageRef("sha256:" + "a".repeat(64))).toBe("sha256:" + "a".repeat(64));
    expect(splitImageRef("localhost:5000/app")).toEqual({ repository: "localhost:5000/app", tag: "latest" });
    expect(imageDir("registry:5000/team/app:1")).toEqual(["docker", "images", "registry:5000", "team", "app:1"]);
  });

  it("reads --only in both spellings", () => {
    expect(parseOnly(["container", "web", "volume/data", "docker:image/busybox:1"])).toEqual([
      { kind: "container", name: "web" },
      { kind: "volume", name: "data" },
      { kind: "image", name: "busybox:1" },
    ]);
    expect(() => parseOnly(["latest"])).toThrow("--only latest: expected image, container or volume and a name");
    expect(() => parseOnly(["container"])).toThrow(UsageError);
  });
});

describe("recreating a container", () => {
  it("asks for the saved configuration, anonymous volumes by name and other containers by name", () => {
    const saved = {
      Id: "f".repeat(64),
      Name: "/web",
      Image: "sha256:" + "1".repeat(64),
      Config: { Image: "app:1", Cmd: ["serve"], Env: ["A=1"], Labels: { l: "v" }, Hostname: "abc" },
      HostConfig: { Binds: ["data:/data:ro"], NetworkMode: "container:" + "e".repeat(64), Mounts: null },
      Mounts: [
        { Type: "volume", Name: "data", Destination: "/data", RW: false },
        { Type: "volume", Name: "9".repeat(64), Destination: "/cache", RW: true },
        { Type: "bind", Source: "/srv", Destination: "/srv", RW: true },
      ],
      NetworkSettings: { Networks: { "app-net": { Aliases: ["web"], NetworkID: "x", IPAddress: "10.0.0.2" } } },
    } as unknown as ContainerInspect;
    const options = createOptionsFor(saved, "app:1", new Map([["e".repeat(64), "db"]]));
    expect(options).toMatchObject({ name: "web", Image: "app:1", Cmd: ["serve"], Env: ["A=1"], Labels: { l: "v" } });
    expect(options.HostConfig?.NetworkMode).toBe("container:db");
    // The engine refuses a hostname for a container in another's network namespace.
    expect(options.Hostname).toBeUndefined();
    expect(options.HostConfig?.Binds).toEqual(["data:/data:ro"]);
    expect(options.HostConfig?.Mounts).toEqual([{ Type: "volume", Source: "9".repeat(64), Target: "/cache", ReadOnly: false }]);
    expect(options.NetworkingConfig?.EndpointsConfig).toEqual({});
  });

  it("creates it on its primary network, without its old short id as an alias, and connects the others afterwards", () => {
    const saved = {
      Id: "f".repeat(64),
      Name: "/web",
      Image: "sha256:" + "1".repeat(64),
      Config: { Image: "app:1", Hostname: "abc" },
      HostConfig: { NetworkMode: "back" },
      Mounts: [],
      NetworkSettings: { Networks: { front: { Aliases: ["www", "f".repeat(12)] }, back: { Aliases: ["web", "f".repeat(12)], IPAMConfig: { IPv4Address: "10.1.0.9" } } } },
    } as unknown as ContainerInspect;
    const options = createOptionsFor(saved, "app:1", new Map());
    expect(options.Hostname).toBe("abc");
    expect(options.NetworkingConfig?.EndpointsConfig).toEqual({ back: { Aliases: ["web"], IPAMConfig: { IPv4Address: "10.1.0.9" } } });
    expect(additionalEndpoints(saved)).toEqual([["front", { Aliases: ["www"] }]]);
  });
});

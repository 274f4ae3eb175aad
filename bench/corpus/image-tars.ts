import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { DAY_SECONDS, dayStart } from "./clock.js";
import { fillContent, type ContentKind } from "./content.js";
import { Prng } from "./prng.js";
import { TextGenerator } from "./text.js";

/**
 * Container images as `docker save` writes them (an OCI layout in one tar): every version of an
 * image is a separate tar, its base layers byte-identical to the previous version's and only the
 * top (application) layer rebuilt. Two images also share their OS layer. A backup tool sees each
 * version as a new large file whose content is mostly already stored.
 */
export interface ImageParams {
  /** Multiplier on the layer sizes below (1 = the `default` corpus). */
  scale: number;
}

export interface ImageStats {
  files: number;
  bytes: number;
}

interface LayerSpec {
  name: string;
  bytes: number;
  roots: string[];
  kinds: ContentKind[];
  createdBy: string;
}

interface ImageSpec {
  name: string;
  base: LayerSpec[];
  appBytes: number;
  appRoot: string;
  appKinds: ContentKind[];
}

interface LayerFile {
  path: string;
  kind: ContentKind;
  size: number;
  mtime: number;
  content: Prng;
}

const MB = 1 << 20;
/** Day 1 holds versions 1..INITIAL_VERSIONS of every image; each later day adds one version of one image. */
const INITIAL_VERSIONS = 3;
/** Share of application files a new version rebuilds. */
const APP_CHANGE_RATE = 0.15;
/** Application files a new version adds. */
const APP_FILES_ADDED = 2;
const BASE_LAYER_TIME = dayStart(1) - 90 * DAY_SECONDS;

const DEBIAN: LayerSpec = {
  name: "debian-bookworm",
  bytes: 30 * MB,
  roots: ["bin", "etc", "lib/x86_64-linux-gnu", "usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/doc",
    "usr/share/locale", "var/lib/dpkg/info"],
  kinds: ["mixed", "mixed", "mixed", "random", "prose", "prose", "code"],
  createdBy: "/bin/sh -c #(nop) ADD file:debian-bookworm-rootfs.tar.xz in /",
};
const ALPINE: LayerSpec = {
  name: "alpine-3.19",
  bytes: 6 * MB,
  roots: ["bin", "etc", "lib", "usr/bin", "usr/lib", "usr/share/apk"],
  kinds: ["mixed", "mixed", "random", "prose", "code"],
  createdBy: "/bin/sh -c #(nop) ADD file:alpine-minirootfs-3.19.tar.gz in /",
};
const NODE: LayerSpec = {
  name: "node-20",
  bytes: 18 * MB,
  roots: ["usr/local/bin", "usr/local/include/node", "usr/local/lib/node_modules/npm/lib",
    "usr/local/lib/node_modules/npm/node_modules", "usr/local/share/doc/node"],
  kinds: ["mixed", "code", "code", "code", "prose", "random"],
  createdBy: "RUN /bin/sh -c set -ex && curl -fsSLO https://nodejs.org/dist/v20.11.1/node-v20.11.1-linux-x64.tar.xz",
};
const PYTHON: LayerSpec = {
  name: "python-3.12",
  bytes: 20 * MB,
  roots: ["usr/local/bin", "usr/local/lib/python3.12", "usr/local/lib/python3.12/site-packages",
    "usr/local/lib/python3.12/lib-dynload", "usr/local/include/python3.12"],
  kinds: ["code", "code", "code", "mixed", "mixed", "prose"],
  createdBy: "RUN /bin/sh -c set -eux; ./configure --enable-optimizations && make -j && make install",
};
const POSTGRES: LayerSpec = {
  name: "postgres-16",
  bytes: 30 * MB,
  roots: ["usr/local/bin", "usr/local/lib/postgresql", "usr/local/share/postgresql/timezone",
    "usr/local/share/postgresql/extension", "usr/local/include/postgresql/server"],
  kinds: ["mixed", "mixed", "mixed", "code", "prose", "random"],
  createdBy: "RUN /bin/sh -c set -eux; apk add --no-cache --virtual .build-deps ... && make install-world",
};

const IMAGES: ImageSpec[] = [
  { name: "webapp", base: [DEBIAN, NODE], appBytes: 5 * MB, appRoot: "app", appKinds: ["code", "code", "code", "mixed", "random", "prose"] },
  { name: "worker", base: [DEBIAN, PYTHON], appBytes: 4 * MB, appRoot: "srv/worker", appKinds: ["code", "code", "code", "prose", "mixed"] },
  { name: "db", base: [ALPINE, POSTGRES], appBytes: 1.5 * MB, appRoot: "docker-entrypoint-initdb.d", appKinds: ["code", "prose"] },
];

const EXTENSIONS: Record<ContentKind, string[]> = {
  prose: ["", ".md", ".txt", ".conf", ".html"],
  code: [".py", ".js", ".sh", ".h", ".json"],
  log: [".log"],
  random: [".gz", ".png", ".zip", ".mo"],
  mixed: ["", ".so", ".so.1", ".a", ".o"],
};

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Which image gains a version on `day` (round robin). */
function imageOfDay(day: number): number {
  return (day - 2) % IMAGES.length;
}

function versionsOnDay(image: number, day: number): number {
  let versions = INITIAL_VERSIONS;
  for (let d = 2; d <= day; d++) if (imageOfDay(d) === image) versions++;
  return versions;
}

/** Build time of a version: weekly before day 1, then the evening before the day that added it. */
function versionTime(image: number, version: number): number {
  if (version <= INITIAL_VERSIONS) return dayStart(1) - (INITIAL_VERSIONS - version + 1) * 7 * DAY_SECONDS;
  const day = 2 + image + (version - INITIAL_VERSIONS - 1) * IMAGES.length;
  return dayStart(day) - 6 * 3600;
}

function randomPath(prng: Prng, text: TextGenerator, dir: string, kind: ContentKind): string {
  return `${dir}/${text.word(prng)}${prng.chance(0.5) ? `-${text.word(prng)}` : ""}${prng.pick(EXTENSIONS[kind])}`;
}

function baseLayerFiles(seed: number, spec: LayerSpec, scale: number, text: TextGenerator): LayerFile[] {
  const prng = new Prng(seed, "layer", spec.name);
  const budget = spec.bytes * scale;
  const maxFile = Math.min(4 * MB, Math.max(4096, budget / 8));
  const dirs = spec.roots.flatMap((root) => [root, ...Array.from({ length: 1 + prng.int(6) }, () => `${root}/${text.word(prng)}`)]);
  const files: LayerFile[] = [];
  const seen = new Set<string>();
  for (let total = 0, i = 0; total < budget; i++) {
    const kind = prng.pick(spec.kinds);
    const path = randomPath(prng, text, prng.pick(dirs), kind);
    if (seen.has(path)) continue;
    seen.add(path);
    const size = Math.min(prng.logUniform(256, maxFile), budget - total);
    const mtime = BASE_LAYER_TIME - prng.int(30 * DAY_SECONDS);
    files.push({ path, kind, size, mtime, content: new Prng(seed, "layer-file", spec.name, i) });
    total += size;
  }
  return files;
}

interface AppSlot {
  path: string;
  kind: ContentKind;
  size: number;
}

/**
 * The top layer of version `version`: a fixed sequence of file slots (the first ones fill the
 * budget on version 1, each release adds a few), each rebuilt by a release with probability
 * APP_CHANGE_RATE. Unchanged files keep content and mtime, so their tar entries stay identical.
 */
function appLayerFiles(seed: number, image: number, version: number, scale: number, text: TextGenerator): LayerFile[] {
  const spec = IMAGES[image];
  const prng = new Prng(seed, "app-plan", spec.name);
  const budget = spec.appBytes * scale;
  const maxFile = Math.min(MB, Math.max(2048, budget / 10));
  const dirs = [spec.appRoot, ...Array.from({ length: 8 }, () => `${spec.appRoot}/${text.word(prng)}`)];
  const seen = new Set<string>();
  const nextSlot = (): AppSlot => {
    for (;;) {
      const kind = prng.pick(spec.appKinds);
      const path = randomPath(prng, text, prng.pick(dirs), kind);
      if (seen.has(path)) continue;
      seen.add(path);
      return { path, kind, size: prng.logUniform(128, maxFile) };
    }
  };
  const slots: AppSlot[] = [];
  for (let total = 0; total < budget; ) {
    const slot = nextSlot();
    slots.push(slot);
    total += slot.size;
  }
  const initialCount = slots.length;
  const slotCount = (v: number): number => initialCount + APP_FILES_ADDED * (v - 1);
  while (slots.length < slotCount(version)) slots.push(nextSlot());

  const revision = new Array<number>(slots.length).fill(0);
  const changedIn = slots.map((_, j) => (j < initialCount ? 1 : 1 + Math.ceil((j - initialCount + 1) / APP_FILES_ADDED)));
  for (let v = 2; v <= version; v++) {
    const release = new Prng(seed, "app-release", spec.name, v);
    for (let j = 0; j < slotCount(v - 1); j++) {
      if (release.chance(APP_CHANGE_RATE)) {
        revision[j]++;
        changedIn[j] = v;
      }
    }
  }
  return slots.slice(0, slotCount(version)).map((slot, j) => {
    const content = new Prng(seed, "app-file", spec.name, j, revision[j]);
    const size = revision[j] === 0 ? slot.size : Math.max(1, Math.round(slot.size * (0.95 + 0.1 * content.float())));
    return { path: slot.path, kind: slot.kind, size, mtime: versionTime(image, changedIn[j]), content };
  });
}

/** A layer tar: directory entries, then files, in path order like a built image layer. */
async function layerTar(files: LayerFile[], mtime: number, text: TextGenerator): Promise<Buffer> {
  const dirs = new Set<string>();
  for (const f of files) {
    for (let i = f.path.indexOf("/"); i > 0; i = f.path.indexOf("/", i + 1)) dirs.add(f.path.slice(0, i));
  }
  const entries: (LayerFile | string)[] = [...dirs, ...files];
  const key = (e: LayerFile | string): string => (typeof e === "string" ? `${e}/` : e.path);
  entries.sort((x, y) => (key(x) < key(y) ? -1 : 1));

  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  const owner = { uid: 0, gid: 0, uname: "root", gname: "root" };
  for (const e of entries) {
    if (typeof e === "string") {
      pack.entry({ name: `${e}/`, type: "directory", mode: 0o755, mtime: new Date(mtime * 1000), ...owner });
      continue;
    }
    const body = Buffer.allocUnsafe(e.size);
    fillContent(body, e.kind, e.content, text);
    const mode = e.kind === "mixed" ? 0o755 : 0o644;
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.path, type: "file", mode, mtime: new Date(e.mtime * 1000), ...owner }, body, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Builds and caches base layers: shared by all versions (and by images on the same OS). */
class LayerCache {
  private readonly layers = new Map<string, Buffer>();
  constructor(
    private readonly seed: number,
    private readonly scale: number,
    private readonly text: TextGenerator,
  ) {}

  async get(spec: LayerSpec): Promise<Buffer> {
    let layer = this.layers.get(spec.name);
    if (layer === undefined) {
      layer = await layerTar(baseLayerFiles(this.seed, spec, this.scale, this.text), BASE_LAYER_TIME, this.text);
      this.layers.set(spec.name, layer);
    }
    return layer;
  }
}

function imageFileName(image: number, version: number): string {
  return `${IMAGES[image].name}-v${String(version).padStart(3, "0")}.tar`;
}

async function writeImageVersion(
  dir: string,
  image: number,
  version: number,
  opts: { seed: number; scale: number; text: TextGenerator; cache: LayerCache },
): Promise<number> {
  const spec = IMAGES[image];
  const created = versionTime(image, version);
  const createdIso = new Date(created * 1000).toISOString();
  const layers = await Promise.all(spec.base.map((l) => opts.cache.get(l)));
  const app = appLayerFiles(opts.seed, image, version, opts.scale, opts.text);
  layers.push(await layerTar(app, created, opts.text));
  const digests = layers.map(sha256);
  const tag = `1.0.${version}`;

  const config = Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: createdIso,
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", `APP_VERSION=${tag}`],
      Cmd: [`/${spec.appRoot}/start`],
      WorkingDir: `/${spec.appRoot}`,
    },
    rootfs: { type: "layers", diff_ids: digests.map((d) => `sha256:${d}`) },
    history: [...spec.base.map((l) => ({ created: new Date(BASE_LAYER_TIME * 1000).toISOString(), created_by: l.createdBy })),
      { created: createdIso, created_by: `COPY . /${spec.appRoot} # buildkit` }],
  }));
  const configDigest = sha256(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${configDigest}`, size: config.length },
    layers: layers.map((l, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${digests[i]}`, size: l.length })),
  }));
  const manifestDigest = sha256(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${manifestDigest}`,
      size: manifest.length,
      annotations: { "io.containerd.image.name": `docker.io/library/${spec.name}:${tag}`, "org.opencontainers.image.ref.name": tag },
    }],
  });
  const dockerManifest = JSON.stringify([{
    Config: `blobs/sha256/${configDigest}`,
    RepoTags: [`${spec.name}:${tag}`],
    Layers: digests.map((d) => `blobs/sha256/${d}`),
  }]);

  const path = join(dir, imageFileName(image, version));
  const mtime = new Date(created * 1000);
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(path));
  pack.entry({ name: "blobs/", type: "directory", mtime });
  pack.entry({ name: "blobs/sha256/", type: "directory", mtime });
  const file = (name: string, body: Buffer | string): void => void pack.entry({ name, type: "file", mtime }, body);
  layers.forEach((layer, i) => file(`blobs/sha256/${digests[i]}`, layer));
  file(`blobs/sha256/${configDigest}`, config);
  file(`blobs/sha256/${manifestDigest}`, manifest);
  file("index.json", index);
  file("manifest.json", dockerManifest);
  file("oci-layout", '{"imageLayoutVersion":"1.0.0"}');
  pack.finalize();
  await written;
  await utimes(path, created, created);
  return (await stat(path)).size;
}

/** Writes the day-1 images: versions 1..INITIAL_VERSIONS of every image. */
export async function writeInitialImages(dir: string, opts: { seed: number; params: ImageParams }): Promise<ImageStats> {
  const text = new TextGenerator(opts.seed);
  const shared = { seed: opts.seed, scale: opts.params.scale, text, cache: new LayerCache(opts.seed, opts.params.scale, text) };
  let bytes = 0;
  for (let image = 0; image < IMAGES.length; image++) {
    for (let version = 1; version <= INITIAL_VERSIONS; version++) bytes += await writeImageVersion(dir, image, version, shared);
  }
  return { files: IMAGES.length * INITIAL_VERSIONS, bytes };
}

/** Day `day`'s change: one new version of one image. Returns the new file's size. */
export async function addImageVersion(dir: string, opts: { seed: number; params: ImageParams; day: number }): Promise<number> {
  const text = new TextGenerator(opts.seed);
  const image = imageOfDay(opts.day);
  const shared = { seed: opts.seed, scale: opts.params.scale, text, cache: new LayerCache(opts.seed, opts.params.scale, text) };
  return writeImageVersion(dir, image, versionsOnDay(image, opts.day), shared);
}

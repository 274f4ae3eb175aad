import { createHash, type Hash } from "node:crypto";
import { posix } from "node:path";
import { saveContent } from "../../backup/file-saver.js";
import { syntheticDirNode } from "../../backup/snapshot-tree-builder.js";
import type { Id } from "../../store/id.js";
import { formatNanos } from "../../store/tree/time.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { consumeStream, countFile, createdAt, ensureDir, jsonBytes, savedFileNode, type DockerRun } from "./docker-run.js";
import { EngineError } from "./engine-client.js";
import { IMAGE_CONFIG, IMAGE_INSPECT, IMAGE_MANIFEST, LAYERS_DIR, imageDir, layerFileName } from "./layout.js";
import { isUnsupported, readTar } from "../../tar/tar-reader.js";

/** One entry of docker save's manifest.json. */
export interface SaveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, unknown>;
}

interface SavedFile {
  content: Id[];
  size: number;
  sha256: string;
  mtimeNs: bigint;
}

async function* hashing(source: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

function normalize(path: string): string {
  return posix.normalize(path).replace(/^(\.\/)+/, "").replace(/\/$/, "");
}

/**
 * The image's directory from the parent snapshot when it holds the same image: its config.json
 * is a single blob whose id (the SHA-256 of the config) is the image id, and every blob is still
 * in the repository. Image ids are content hashes over the config, which names every layer by
 * digest, so an unchanged image is then not read from the engine at all.
 */
async function unchangedFromParent(run: DockerRun, dir: string[], imageId: string): Promise<TreeNode | undefined> {
  const previous = await run.parent.nodeAt(dir);
  if (previous?.type !== "dir" || !previous.subtree) return undefined;
  try {
    const repo = run.ctx.repo;
    const nodes = await repo.loadTree(previous.subtree);
    const config = nodes.find((n) => n.name === IMAGE_CONFIG);
    if (config?.content?.length !== 1 || `sha256:${config.content[0]}` !== imageId) return undefined;
    const layersDir = nodes.find((n) => n.name === LAYERS_DIR);
    const files = [...nodes.filter((n) => n.type === "file"), ...(layersDir?.subtree ? await repo.loadTree(layersDir.subtree) : [])];
    if (!files.every((f) => (f.content ?? []).every((id) => repo.hasBlob(id)))) return undefined;
    for (const file of files) countFile(run, file, file, false);
    run.ctx.counters.dirsUnmodified += 2;
    return previous;
  } catch {
    // Unreadable parent data: read the image again.
    return undefined;
  }
}

/**
 * Stores one image as a directory of files: every layer tar byte-exact as layers/<sha256>.tar,
 * the configuration (whose hash is the image id), a manifest pointing at both, and the
 * engine's inspect document. The layers come from the engine's `docker save` stream and are
 * chunked like any file, so a layer already in the repository costs nothing.
 */
export async function archiveImage(run: DockerRun, ref: string): Promise<void> {
  const { client } = run.session;
  const dir = imageDir(ref);
  const key = dir.join("/");
  if (run.session.done.images.has(key)) return;
  const inspect = await client.inspectImage(ref);
  run.session.done.images.add(key);
  const created = createdAt(inspect.Created);
  ensureDir(run, dir.slice(0, -1), created);

  const unchanged = await unchangedFromParent(run, dir, inspect.Id);
  if (unchanged) {
    run.tree.put(dir.slice(0, -1), unchanged);
    return;
  }

  const files = new Map<string, SavedFile>();
  const links = new Map<string, string>();
  let manifestBytes: Buffer | undefined;
  await consumeStream(run, `save image ${ref}`, await client.saveImage(ref), async (source) => {
    for await (const entry of readTar(source)) {
      if (isUnsupported(entry)) continue;
      const { header } = entry;
      const path = normalize(header.path.toString("utf8"));
      if (header.type === "symlink") links.set(path, normalize(posix.join(posix.dirname(path), header.linkTarget.toString("utf8"))));
      else if (header.type === "hardlink") links.set(path, normalize(header.linkTarget.toString("utf8")));
      if (header.type !== "file") continue;
      if (path === IMAGE_MANIFEST) {
        manifestBytes = await collect(entry.body);
        continue;
      }
      run.ctx.onFile?.(`/${key}/${path}`);
      const hash = createHash("sha256");
      const saved = await saveContent(run.ctx.repo, hashing(entry.body, hash));
      files.set(path, { ...saved, sha256: hash.digest("hex"), mtimeNs: header.mtimeNs });
    }
  });

  const resolve = (path: string): SavedFile => {
    let p = normalize(path);
    for (let hops = 0; links.has(p) && hops < 8; hops++) p = links.get(p)!;
    const file = files.get(p);
    if (!file) throw new EngineError(`docker: save image ${ref}: ${path} is named in manifest.json but missing from the archive`);
    return file;
  };
  const manifest = manifestBytes ? (JSON.parse(manifestBytes.toString()) as SaveManifestEntry[])[0] : undefined;
  if (!manifest) throw new EngineError(`docker: save image ${ref}: the archive has no manifest.json`);

  const previous = await run.parent.nodeAt(dir);
  const previousNodes = previous?.subtree ? await run.ctx.repo.loadTree(previous.subtree).catch(() => []) : [];
  const previousLayersDir = previousNodes.find((n) => n.name === LAYERS_DIR);
  const previousLayers = previousLayersDir?.subtree ? await run.ctx.repo.loadTree(previousLayersDir.subtree).catch(() => []) : [];

  const fileNode = (name: string, file: SavedFile): TreeNode => ({ name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: formatNanos(file.mtimeNs), size: file.size, content: file.content });
  const layerNodes = new Map<string, TreeNode>();
  for (const layerPath of manifest.Layers) {
    const file = resolve(layerPath);
    const name = layerFileName(file.sha256);
    if (layerNodes.has(name)) continue;
    const node = fileNode(name, file);
    layerNodes.set(name, node);
    countFile(run, node, previousLayers.find((n) => n.name === name), true);
  }
  const layersTree = await run.ctx.repo.saveTree([...layerNodes.values()]);

  const configNode = fileNode(IMAGE_CONFIG, resolve(manifest.Config));
  countFile(run, configNode, previousNodes.find((n) => n.name === IMAGE_CONFIG), true);
  const stored: SaveManifestEntry = {
    Config: IMAGE_CONFIG,
    RepoTags: manifest.RepoTags ?? null,
    Layers: manifest.Layers.map((p) => `${LAYERS_DIR}/${layerFileName(resolve(p).sha256)}`),
  };
  if (manifest.LayerSources) stored.LayerSources = manifest.LayerSources;
  const manifestNode = await savedFileNode(run, IMAGE_MANIFEST, Buffer.from(JSON.stringify([stored])), created);
  const inspectNode = await savedFileNode(run, IMAGE_INSPECT, jsonBytes(inspect), created);
  const layersDirNode: TreeNode = { ...syntheticDirNode(LAYERS_DIR, created), subtree: layersTree };
  const imageTree = await run.ctx.repo.saveTree([manifestNode, configNode, inspectNode, layersDirNode]);
  run.ctx.counters.dirsNew += 2;
  run.tree.put(dir.slice(0, -1), { ...syntheticDirNode(dir[dir.length - 1]!, created), subtree: imageTree });
}

import { IntegrityError, UsageError } from "../../errors.js";
import type { Id } from "../../store/id.js";
import type { Repository } from "../../store/repository.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import type { ContainerInspect, FilesystemChange, ImageInspect, NetworkInspect, VolumeInspect } from "./engine-client.js";
import type { SaveManifestEntry } from "./image-source.js";
import { changeList } from "./change-list.js";
import {
  CONTAINERS_DIR,
  CONTAINER_CHANGES,
  CONTAINER_CONFIG,
  DOCKER_DIR,
  IMAGES_DIR,
  IMAGE_CONFIG,
  IMAGE_INSPECT,
  IMAGE_MANIFEST,
  LAYERS_DIR,
  NETWORKS_DIR,
  NETWORK_CONFIG,
  ROOTFS_DIR,
  VOLUMES_DIR,
  VOLUME_CONFIG,
  VOLUME_DATA,
} from "./layout.js";

export interface StoredImage {
  /** The name it was stored under ("busybox:latest", or "sha256:…" for an untagged image). */
  ref: string;
  inspect: ImageInspect;
  manifest: SaveManifestEntry;
  config: TreeNode;
  /** layers/<digest>.tar, by file name. */
  layers: Map<string, TreeNode>;
}

export interface StoredContainer {
  name: string;
  inspect: ContainerInspect;
  /** What it changed in its image; undefined when changes.json is not a change list (the whole rootfs/ is then used). */
  changes: FilesystemChange[] | undefined;
  rootfs: TreeNode;
}

export interface StoredVolume {
  name: string;
  inspect: VolumeInspect;
  data: TreeNode | undefined;
}

/** The Docker objects in a snapshot, read from its /docker directory. */
export interface DockerCatalog {
  images: StoredImage[];
  containers: StoredContainer[];
  volumes: StoredVolume[];
  networks: NetworkInspect[];
}

/** A stored file's bytes, every blob verified as it is read (for small documents). */
export async function readStoredFile(repo: Repository, node: TreeNode): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const id of node.content ?? []) parts.push(await repo.loadBlob(id));
  const bytes = Buffer.concat(parts);
  if (node.size !== undefined && bytes.length !== node.size) throw new IntegrityError(`${node.name}: stored content is ${bytes.length} bytes, the snapshot says ${node.size}`);
  return bytes;
}

async function readJson<T>(repo: Repository, node: TreeNode | undefined, where: string): Promise<T> {
  if (!node) throw new IntegrityError(`${where} is missing from the snapshot`);
  return JSON.parse((await readStoredFile(repo, node)).toString("utf8")) as T;
}

async function readChanges(repo: Repository, node: TreeNode | undefined, where: string): Promise<FilesystemChange[] | undefined> {
  if (!node) throw new IntegrityError(`${where} is missing from the snapshot`);
  try {
    return changeList(JSON.parse((await readStoredFile(repo, node)).toString("utf8")));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function listing(repo: Repository, node: TreeNode | undefined): Promise<TreeNode[]> {
  return node?.type === "dir" && node.subtree ? repo.loadTree(node.subtree) : [];
}

function byName(nodes: readonly TreeNode[], name: string): TreeNode | undefined {
  return nodes.find((n) => n.name === name);
}

async function findImages(repo: Repository, nodes: TreeNode[], prefix: string, out: StoredImage[]): Promise<void> {
  for (const node of nodes) {
    if (node.type !== "dir") continue;
    const ref = prefix + node.name;
    const children = await listing(repo, node);
    const manifest = byName(children, IMAGE_MANIFEST);
    const config = byName(children, IMAGE_CONFIG);
    if (!manifest || !config) {
      await findImages(repo, children, `${ref}/`, out);
      continue;
    }
    const where = `/${DOCKER_DIR}/${IMAGES_DIR}/${ref}`;
    const [entry] = await readJson<SaveManifestEntry[]>(repo, manifest, `${where}/${IMAGE_MANIFEST}`);
    if (!entry) throw new IntegrityError(`${where}/${IMAGE_MANIFEST} lists no image`);
    const layers = new Map((await listing(repo, byName(children, LAYERS_DIR))).map((n) => [n.name, n]));
    out.push({ ref, inspect: await readJson<ImageInspect>(repo, byName(children, IMAGE_INSPECT), `${where}/${IMAGE_INSPECT}`), manifest: entry, config, layers });
  }
}

export async function readDockerCatalog(repo: Repository, rootTree: Id): Promise<DockerCatalog> {
  const docker = byName(await repo.loadTree(rootTree), DOCKER_DIR);
  if (docker?.type !== "dir") throw new UsageError(`the snapshot holds no Docker objects (nothing under /${DOCKER_DIR})`);
  const top = await listing(repo, docker);
  const catalog: DockerCatalog = { images: [], containers: [], volumes: [], networks: [] };
  await findImages(repo, await listing(repo, byName(top, IMAGES_DIR)), "", catalog.images);
  for (const dir of await listing(repo, byName(top, CONTAINERS_DIR))) {
    const where = `/${DOCKER_DIR}/${CONTAINERS_DIR}/${dir.name}`;
    const children = await listing(repo, dir);
    const rootfs = byName(children, ROOTFS_DIR);
    if (rootfs?.type !== "dir") throw new IntegrityError(`${where}/${ROOTFS_DIR} is missing from the snapshot`);
    catalog.containers.push({
      name: dir.name,
      inspect: await readJson<ContainerInspect>(repo, byName(children, CONTAINER_CONFIG), `${where}/${CONTAINER_CONFIG}`),
      changes: await readChanges(repo, byName(children, CONTAINER_CHANGES), `${where}/${CONTAINER_CHANGES}`),
      rootfs,
    });
  }
  for (const dir of await listing(repo, byName(top, VOLUMES_DIR))) {
    const children = await listing(repo, dir);
    const data = byName(children, VOLUME_DATA);
    catalog.volumes.push({
      name: dir.name,
      inspect: await readJson<VolumeInspect>(repo, byName(children, VOLUME_CONFIG), `/${DOCKER_DIR}/${VOLUMES_DIR}/${dir.name}/${VOLUME_CONFIG}`),
      data: data?.type === "dir" ? data : undefined,
    });
  }
  for (const dir of await listing(repo, byName(top, NETWORKS_DIR))) {
    catalog.networks.push(await readJson<NetworkInspect>(repo, byName(await listing(repo, dir), NETWORK_CONFIG), `/${DOCKER_DIR}/${NETWORKS_DIR}/${dir.name}/${NETWORK_CONFIG}`));
  }
  return catalog;
}

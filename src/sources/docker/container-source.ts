import { CairnError, NotFoundError } from "../../errors.js";
import { formatNanos } from "../../store/tree/time.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { consumeStream, createdAt, ensureDir, jsonBytes, savedFileNode, tolerate, type DockerRun } from "./docker-run.js";
import { byPath } from "./change-list.js";
import { normalizeImageRef } from "./docker-uri.js";
import type { ContainerInspect } from "./engine-client.js";
import { archiveImage } from "./image-source.js";
import { CONTAINER_CHANGES, CONTAINER_CONFIG, ROOTFS_DIR, containerDir } from "./layout.js";
import { TarTreeBuilder } from "./tar-to-tree.js";
import { archiveNetwork } from "./network-source.js";
import { archiveVolume } from "./volume-source.js";

/** The name a container's image is stored under: the tag it was created from if that still names it. */
export function imageRefOf(container: ContainerInspect, tags: readonly string[]): string {
  const wanted = normalizeImageRef(container.Config.Image);
  if (tags.includes(wanted)) return wanted;
  return tags.find((t) => t !== "<none>:<none>") ?? container.Image;
}

export function containerName(container: ContainerInspect): string {
  return container.Name.replace(/^\//, "");
}

/**
 * Stores a container: its image (under /docker/images), its configuration and change list,
 * its whole file system as a tree of files (rootfs/), the volumes it mounts and the
 * user-defined networks it is attached to. A running
 * container is paused while its file system and volumes are read, so they are consistent
 * with each other, and it is unpaused afterwards whatever happens.
 */
export async function archiveContainer(run: DockerRun, nameOrId: string): Promise<void> {
  const { client } = run.session;
  const container = await client.inspectContainer(nameOrId);
  if (run.session.done.containers.has(container.Id)) return;
  run.session.done.containers.add(container.Id);
  const name = containerName(container);
  const dir = containerDir(name);

  const image = await client.findImage(container.Image);
  if (image) await tolerate(run, `docker:container/${name}`, () => archiveImage(run, imageRefOf(container, image.RepoTags ?? [])));
  else run.ctx.warn({ path: `docker:container/${name}`, message: `its image ${container.Image} is no longer in the engine; only the container's file system is stored` });

  for (const network of Object.keys(container.NetworkSettings?.Networks ?? {})) {
    await tolerate(run, `docker:container/${name}`, () => archiveNetwork(run, network));
  }

  const pause = run.session.pause && container.State.Running && !container.State.Paused;
  if (pause) await client.pause(container.Id);
  let failed = true;
  let nodes: TreeNode[] = [];
  try {
    const changes = await client.changes(container.Id);
    const previous = await run.parent.nodeAt([...dir, ROOTFS_DIR]);
    const rootfs = await consumeStream(run, `export container ${name}`, await client.exportContainer(container.Id), (source) =>
      new TarTreeBuilder(run.ctx, { snapshotPath: "/" + [...dir, ROOTFS_DIR].join("/"), ...(previous?.subtree ? { previousTree: previous.subtree } : {}) }).read(source),
    );
    for (const mount of container.Mounts) {
      if (mount.Type === "volume" && mount.Name) await tolerate(run, `docker:volume/${mount.Name}`, () => archiveVolume(run, mount.Name!));
    }
    const rootNode: TreeNode = { name: ROOTFS_DIR, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: formatNanos(BigInt(createdAt(container.Created).getTime()) * 1_000_000n), subtree: rootfs.tree };
    const created = createdAt(container.Created);
    // In a fixed order: the engine lists mounts and changes in any order, and diff showed both
    // files modified between two backups of a container that had not changed.
    const config = { ...container, Mounts: [...container.Mounts].sort((a, b) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0)) };
    const changeList = Array.isArray(changes) ? byPath(changes) : changes;
    nodes = [await savedFileNode(run, CONTAINER_CONFIG, jsonBytes(config), created), await savedFileNode(run, CONTAINER_CHANGES, jsonBytes(changeList), created), rootNode];
    failed = false;
  } finally {
    if (pause) await unpause(run, container.Id, name, failed);
  }
  // Only now: a container removed while it was read is not stored half-read.
  ensureDir(run, dir, createdAt(container.Created));
  for (const node of nodes) run.tree.put(dir, node);
}

async function unpause(run: DockerRun, id: string, name: string, backupFailed: boolean): Promise<void> {
  try {
    await run.session.client.unpause(id);
  } catch (err) {
    // Removed while it was read: a warning (tolerate), unless the backup failed already.
    if (err instanceof NotFoundError) {
      if (backupFailed) return;
      throw new NotFoundError(`container ${name} was removed while it was backed up; it is not stored`);
    }
    const message = `could not unpause container ${name} after reading it (${(err as Error).message}); it is still paused: run docker unpause ${name}`;
    // When the backup failed already, its error is what is thrown; this one must still be seen.
    if (backupFailed) run.ctx.warn({ path: `docker:container/${name}`, message });
    else throw new CairnError(message);
  }
}

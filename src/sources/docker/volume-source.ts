import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import type { BackupContext } from "../../backup/backup-context.js";
import { archiveEntry } from "../../backup/directory-archiver.js";
import { syntheticDirNode } from "../../backup/snapshot-tree-builder.js";
import type { TreeNode } from "../../store/tree/tree-node.js";
import { consumeStream, createdAt, ensureDir, jsonBytes, savedFileNode, type DockerRun } from "./docker-run.js";
import type { VolumeInspect } from "./engine-client.js";
import { HELPER_MOUNT, withHelperContainer } from "./helper-container.js";
import { VOLUME_CONFIG, VOLUME_DATA, volumeDir } from "./layout.js";
import { TarTreeBuilder } from "./tar-to-tree.js";

/**
 * True when the volume's files can be read straight from its mountpoint: a local-driver volume
 * of an engine on this machine, without mount options (those are mounted by the driver only
 * while a container uses them, so the directory would look empty), and readable by us.
 */
async function readableMountpoint(run: DockerRun, volume: VolumeInspect): Promise<boolean> {
  if (run.session.volumeAccess !== "auto" || !run.session.client.isLocal || volume.Driver !== "local") return false;
  const options = volume.Options ?? {};
  if (options.type || options.device || options.o) return false;
  try {
    if (!(await fs.stat(volume.Mountpoint)).isDirectory()) return false;
    await fs.access(volume.Mountpoint, fsConstants.R_OK | fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stores a volume as volume.json (driver, labels, options) and data/ (its files). --exclude,
 * --exclude-if-present and --one-file-system describe host paths: a volume is stored whole.
 */
export async function archiveVolume(run: DockerRun, name: string): Promise<void> {
  if (run.session.done.volumes.has(name)) return;
  const { client } = run.session;
  const volume = await client.inspectVolume(name);
  run.session.done.volumes.add(name);
  const dir = volumeDir(name);
  const snapshotPath = "/" + [...dir, VOLUME_DATA].join("/");
  const previous = await run.parent.nodeAt([...dir, VOLUME_DATA]);
  const ctx: BackupContext = { ...run.ctx, exclusionMarkers: [], oneFileSystem: false };
  delete ctx.exclude;

  let data: TreeNode | undefined;
  if (await readableMountpoint(run, volume)) {
    const st = await fs.lstat(volume.Mountpoint, { bigint: true });
    const mountpoint = Buffer.from(volume.Mountpoint);
    data = await archiveEntry(ctx, { real: mountpoint, access: mountpoint }, st, previous, st.dev);
  } else {
    data = await withHelperContainer(client, [`${name}:${HELPER_MOUNT}:ro`], async (helper) => {
      const tar = await client.getArchive(helper, HELPER_MOUNT);
      const read = await consumeStream(run, `read volume ${name}`, tar, (source) => new TarTreeBuilder(ctx, { strip: 1, snapshotPath, ...(previous?.subtree ? { previousTree: previous.subtree } : {}) }).read(source));
      return { ...(read.root ?? syntheticDirNode(VOLUME_DATA, new Date(0))), subtree: read.tree };
    });
  }
  const created = createdAt((volume as VolumeInspect & { CreatedAt?: string }).CreatedAt);
  ensureDir(run, dir, created);
  run.tree.put(dir, await savedFileNode(run, VOLUME_CONFIG, jsonBytes(volume), created));
  if (data) {
    const node: TreeNode = { ...data, name: VOLUME_DATA };
    delete node.nameRaw;
    run.tree.put(dir, node);
  }
}

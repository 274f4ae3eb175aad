import { Readable } from "node:stream";
import { AlreadyExistsError, IntegrityError, InterruptedError, NotFoundError } from "../../errors.js";
import { isObjectFailure } from "./docker-run.js";
import type { Id } from "../../store/id.js";
import type { Repository } from "../../store/repository.js";
import { nodeNameBytes, type TreeNode } from "../../store/tree/tree-node.js";
import { byPath } from "./change-list.js";
import { normalizeImageRef, splitImageRef } from "./docker-uri.js";
import { additionalEndpoints, createOptionsFor } from "./container-create-options.js";
import { EngineClient, type ContainerInspect, type NetworkInspect } from "./engine-client.js";
import { HELPER_MOUNT, withHelperContainer } from "./helper-container.js";
import { CONTAINER_CHANGES, IMAGE_CONFIG, IMAGE_MANIFEST, LAYERS_DIR } from "./layout.js";
import { BUILTIN_NETWORKS } from "./network-source.js";
import { readDockerCatalog, type DockerCatalog, type StoredContainer, type StoredImage, type StoredVolume } from "./snapshot-catalog.js";
import { readTar } from "../../tar/tar-reader.js";
import { treeToTar, type TarItem } from "./tree-to-tar.js";

export type DockerObjectKind = "image" | "container" | "volume";

export interface DockerObjectRef {
  kind: DockerObjectKind;
  name: string;
}

export interface DockerRestoreOptions {
  /** Restore only these (plus, for a container, its image and volumes if the engine lacks them). */
  only?: DockerObjectRef[];
  /** Replace containers of the same name and non-empty volumes; move image tags. */
  force?: boolean;
  /** Start the containers that were running when they were backed up (default true). */
  start?: boolean;
  onInfo?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  /**
   * Stops the restore (InterruptedError) between objects and inside an upload, whose helper
   * container is removed on the way out; what was restored before stays in the engine.
   */
  signal?: AbortSignal;
}

export interface DockerRestoreResult {
  images: { ref: string; id: string; action: "loaded" | "present" }[];
  volumes: { name: string; action: "created" | "filled" | "replaced" }[];
  networks: { name: string }[];
  containers: { name: string; id: string; image: string; fromFilesystem: boolean; started: boolean; paused: boolean }[];
  /** What could not be done; everything else was. */
  problems: { object: string; message: string }[];
}

/** "attach": missing, with storage outside the engine: created at the end of the plan, to see what it holds. */
type VolumeState = "missing" | "attach" | "empty" | "replace";

interface Plan {
  images: StoredImage[];
  /** Tags asked for with --only that the image's stored manifest does not carry. */
  requestedTags: Map<StoredImage, string[]>;
  networks: NetworkInspect[];
  volumes: { volume: StoredVolume; state: VolumeState }[];
  containers: StoredContainer[];
}

/** The stored image `name` asks for: the one stored under that name, else one that carried it as a tag or has it as id. */
function findStoredImage(images: StoredImage[], name: string): StoredImage | undefined {
  const wanted = normalizeImageRef(name);
  return images.find((i) => i.ref === wanted) ?? images.find((i) => i.inspect.Id === name || (i.inspect.RepoTags ?? []).includes(wanted));
}

/** Where the engine mounts its init process into a container started with --init. */
const INIT_BINARY = "/sbin/docker-init";

/**
 * Paths a container mounts something at: never written into the container, they are not its
 * own. Besides its mounts, the tmpfs of `--tmpfs` and the init binary of `--init`, which the
 * engine lists as changes. In a read-only root file system the directories the engine made for
 * them are its doing too (the container cannot write), and could not be written back.
 */
function underMount(container: ContainerInspect, path: string): boolean {
  const host = container.HostConfig as { Tmpfs?: Record<string, string> | null; Init?: boolean | null; ReadonlyRootfs?: boolean | null };
  const points = [...container.Mounts.map((m) => m.Destination), ...Object.keys(host.Tmpfs ?? {}), ...(host.Init ? [INIT_BINARY] : [])].map((p) => p.replace(/\/$/, ""));
  const dir = path.replace(/\/$/, "") + "/";
  return points.some((point) => path === point || path.startsWith(point + "/") || (host.ReadonlyRootfs === true && point.startsWith(dir)));
}

/**
 * A volume whose driver or options reach storage outside the engine (a bind device, an NFS
 * share, a plugin's disk): created anew, it may hold data already, which filling would roll back.
 */
function reachesStorage(volume: StoredVolume): boolean {
  return (volume.inspect.Driver ?? "local") !== "local" || Object.keys(volume.inspect.Options ?? {}).length > 0;
}

/** Names of the containers `container` needs to exist first (network, IPC or PID namespace, volumes-from, links). */
function dependencies(container: ContainerInspect, names: Map<string, string>): string[] {
  const host = container.HostConfig as { NetworkMode?: string; IpcMode?: string; PidMode?: string; Links?: string[] | null; VolumesFrom?: string[] | null };
  const refs = [host.NetworkMode, host.IpcMode, host.PidMode].filter((m): m is string => !!m?.startsWith("container:")).map((m) => m.slice("container:".length));
  refs.push(...(host.VolumesFrom ?? []).map((v: string) => v.split(":")[0]!));
  refs.push(...(host.Links ?? []).map((l: string) => l.split(":")[0]!.replace(/^\//, "")));
  return refs.map((r) => names.get(r) ?? r);
}

/** Containers ordered so that the ones others depend on are created first. */
function creationOrder(containers: StoredContainer[]): StoredContainer[] {
  const names = idsToNames(containers);
  const byName = new Map(containers.map((c) => [c.name, c]));
  const ordered: StoredContainer[] = [];
  const visiting = new Set<string>();
  const visit = (c: StoredContainer) => {
    if (ordered.includes(c) || visiting.has(c.name)) return;
    visiting.add(c.name);
    for (const dep of dependencies(c.inspect, names)) {
      const d = byName.get(dep);
      if (d) visit(d);
    }
    ordered.push(c);
  };
  containers.forEach(visit);
  return ordered;
}

function idsToNames(containers: StoredContainer[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const c of containers) {
    names.set(c.inspect.Id, c.name);
    names.set(c.inspect.Id.slice(0, 12), c.name);
  }
  return names;
}

/** Every data blob below `node` must be in the index before the engine is touched. */
async function checkComplete(repo: Repository, node: TreeNode, where: string): Promise<void> {
  for (const id of node.content ?? []) if (!repo.lookupBlob(id)) throw new IntegrityError(`${where}: data blob ${id} is missing from the repository; nothing was restored`);
  if (node.type === "dir" && node.subtree) for (const child of await repo.loadTree(node.subtree)) await checkComplete(repo, child, `${where}/${child.name}`);
}

/**
 * The stored node at a path of the engine's change list, with its path as the stored bytes: the
 * engine's JSON carries a name that is not UTF-8 with U+FFFD in place of its bad bytes, which
 * the node's name reads the same way, and the archive must carry the original name.
 */
async function nodeAtPath(repo: Repository, root: TreeNode, path: string): Promise<{ node: TreeNode; path: Buffer } | undefined> {
  let node: TreeNode | undefined = root;
  const names: Buffer[] = [];
  for (const name of path.split("/").filter(Boolean)) {
    if (node?.type !== "dir" || !node.subtree) return undefined;
    node = (await repo.loadTree(node.subtree)).find((n) => n.name === name);
    if (!node) return undefined;
    names.push(nodeNameBytes(node));
  }
  return node && { node, path: Buffer.concat(names.flatMap((name, i) => (i === 0 ? [name] : [Buffer.from("/"), name]))) };
}

/**
 * Puts Docker objects from a snapshot back into an engine: images are loaded from their stored
 * layers and checked by id; volumes are created and filled; containers are recreated under
 * their own names from their saved configuration. A container whose image is in the engine
 * and whose file system only added or changed files is created from that image and gets
 * those files put back (so it shares the image's layers, as before); one that had deleted
 * files of its image, or whose image is gone, is created from its whole stored file system,
 * imported as the image cairn-restore/NAME. Everything is checked before anything changes.
 */
export class DockerRestorer {
  private readonly result: DockerRestoreResult = { images: [], volumes: [], networks: [], containers: [], problems: [] };

  private constructor(
    private readonly repo: Repository,
    private readonly client: EngineClient,
    private readonly options: DockerRestoreOptions,
  ) {}

  static async create(repo: Repository, options: DockerRestoreOptions = {}): Promise<DockerRestorer> {
    return new DockerRestorer(repo, await EngineClient.connect(options.env), options);
  }

  private info(message: string): void {
    this.options.onInfo?.(message);
  }

  async restore(rootTree: Id): Promise<DockerRestoreResult> {
    const catalog = await readDockerCatalog(this.repo, rootTree);
    await this.client.version();
    const plan = await this.plan(catalog);
    for (const image of plan.images) await this.attempt(`image ${image.ref}`, () => this.restoreImage(image, plan.requestedTags.get(image) ?? []));
    for (const network of plan.networks) await this.attempt(`network ${network.Name}`, () => this.restoreNetwork(network));
    if (this.options.force) {
      for (const c of plan.containers) {
        const existing = await this.client.findContainer(c.name);
        if (existing) {
          this.info(`container ${c.name}: removing the existing one (--force)`);
          await this.client.removeContainer(existing.Id);
        }
      }
    }
    for (const v of plan.volumes) await this.attempt(`volume ${v.volume.name}`, () => this.restoreVolume(v.volume, v.state));
    const names = idsToNames(catalog.containers);
    for (const c of creationOrder(plan.containers)) await this.attempt(`container ${c.name}`, () => this.restoreContainer(c, names));
    return this.result;
  }

  /** One object at a time: when the engine refuses one (or its data is damaged), the others still go back. */
  private async attempt(object: string, restore: () => Promise<void>): Promise<void> {
    this.throwIfInterrupted(object);
    try {
      await restore();
    } catch (err) {
      // An upload cut short by the interruption fails with whatever the engine says of it.
      this.throwIfInterrupted(object);
      if (!isObjectFailure(err) && !(err instanceof IntegrityError)) throw err;
      this.result.problems.push({ object, message: (err as Error).message });
    }
  }

  private throwIfInterrupted(object: string): void {
    if (this.options.signal?.aborted) {
      throw new InterruptedError(`interrupted at ${object}: what was restored before it stays in the engine (run the restore again, with --force to replace it)`);
    }
  }

  /** An archive for the engine, ended by the interruption (the request then fails and its helper goes). */
  private upload(archive: AsyncGenerator<Buffer>): Readable {
    const signal = this.options.signal;
    return Readable.from(
      (async function* () {
        for await (const chunk of archive) {
          if (signal?.aborted) throw new InterruptedError();
          yield chunk;
        }
      })(),
    );
  }

  /** Chooses what to restore and refuses, before any change, what would overwrite something. */
  private async plan(catalog: DockerCatalog): Promise<Plan> {
    const only = this.options.only ?? [];
    const pick = <T>(list: T[], kind: DockerObjectKind, find: (list: T[], name: string) => T | undefined): T[] =>
      only.length === 0
        ? list
        : only
            .filter((o) => o.kind === kind)
            .map((o) => {
              const found = find(list, o.name);
              if (!found) throw new NotFoundError(`the snapshot has no ${kind} named ${o.name}`);
              return found;
            });
    const containers = [...new Set(pick(catalog.containers, "container", (list, n) => list.find((c) => c.name === n)))];
    // The containers a chosen one needs (its network namespace, --volumes-from, links) come too
    // when the engine lacks them; one that is in neither the engine nor the snapshot stops here.
    const names = idsToNames(catalog.containers);
    for (let i = 0; i < containers.length; i++) {
      for (const dep of dependencies(containers[i]!.inspect, names)) {
        if (containers.some((c) => c.name === dep) || (await this.client.findContainer(dep))) continue;
        const stored = catalog.containers.find((c) => c.name === dep);
        if (!stored) throw new NotFoundError(`container ${containers[i]!.name} needs container ${dep}, which is neither in the engine nor in the snapshot`);
        containers.push(stored);
      }
    }
    const images = new Set(pick(catalog.images, "image", findStoredImage));
    const volumes = new Set(pick(catalog.volumes, "volume", (list, n) => list.find((v) => v.name === n)));
    // The tag the user named must exist afterwards, even when the image was stored under another.
    const requestedTags = new Map<StoredImage, string[]>();
    for (const o of only.filter((o) => o.kind === "image" && !o.name.startsWith("sha256:"))) {
      const image = findStoredImage(catalog.images, o.name)!;
      const tag = normalizeImageRef(o.name);
      if (!(image.manifest.RepoTags ?? []).includes(tag)) requestedTags.set(image, [...(requestedTags.get(image) ?? []), tag]);
    }
    // What a chosen container needs, if the engine does not have it already.
    const neededImages = new Set<StoredImage>();
    const neededVolumes = new Set<StoredVolume>();
    for (const c of containers) {
      const image = catalog.images.find((i) => i.inspect.Id === c.inspect.Image);
      if (image && !images.has(image)) neededImages.add(image);
      for (const m of c.inspect.Mounts) {
        const volume = m.Type === "volume" ? catalog.volumes.find((v) => v.name === m.Name) : undefined;
        if (volume && !volumes.has(volume)) neededVolumes.add(volume);
      }
    }

    for (const c of containers) {
      if (!this.options.force && (await this.client.findContainer(c.name))) throw new AlreadyExistsError(`container ${c.name} already exists in the engine; use --force to replace it`);
    }
    const plan: Plan = { images: [...images], requestedTags, networks: [], volumes: [], containers };
    const networkNames = new Set(containers.flatMap((c) => Object.keys(c.inspect.NetworkSettings?.Networks ?? {})).filter((n) => !BUILTIN_NETWORKS.has(n)));
    for (const name of networkNames) {
      const network = catalog.networks.find((n) => n.Name === name);
      if (network && !(await this.client.findNetwork(name))) plan.networks.push(network);
    }
    for (const image of neededImages) if (!(await this.client.findImage(image.inspect.Id))) plan.images.push(image);
    for (const volume of volumes) {
      const existing = await this.client.findVolume(volume.name);
      if (!existing && reachesStorage(volume)) plan.volumes.push({ volume, state: "attach" });
      else if (!existing) plan.volumes.push({ volume, state: "missing" });
      else if (await this.volumeIsEmpty(volume.name)) plan.volumes.push({ volume, state: "empty" });
      else if (this.options.force) plan.volumes.push({ volume, state: "replace" });
      else throw new AlreadyExistsError(`volume ${volume.name} already exists and is not empty; use --force to replace it`);
    }
    // A volume the container needs is filled when it is missing or empty, as in a full restore; one with files is its data.
    for (const volume of neededVolumes) {
      if (!(await this.client.findVolume(volume.name))) plan.volumes.push({ volume, state: reachesStorage(volume) ? "attach" : "missing" });
      else if (await this.volumeIsEmpty(volume.name)) plan.volumes.push({ volume, state: "empty" });
    }

    for (const image of plan.images) for (const layer of image.layers.values()) await checkComplete(this.repo, layer, `image ${image.ref}`);
    for (const image of plan.images) await checkComplete(this.repo, image.config, `image ${image.ref}`);
    for (const { volume } of plan.volumes) if (volume.data) await checkComplete(this.repo, volume.data, `volume ${volume.name}`);
    for (const c of plan.containers) await checkComplete(this.repo, c.rootfs, `container ${c.name}`);
    // Last of all, as the one check that changes the engine: such a volume is created to see
    // what its storage holds. It is left in place if that is data (it is the data's, not ours).
    for (const entry of plan.volumes.filter((v) => v.state === "attach")) {
      const { name, inspect } = entry.volume;
      await this.client.createVolume({ Name: name, Driver: inspect.Driver, DriverOpts: inspect.Options ?? {}, Labels: inspect.Labels ?? {} });
      if (!(await this.volumeIsEmpty(name)) && !this.options.force) {
        const where = inspect.Options?.device ? `device ${inspect.Options.device}` : `driver ${inspect.Driver ?? "local"}`;
        throw new AlreadyExistsError(`volume ${name}: its storage (${where}) already holds data; nothing was restored; use --force to restore over it (files the snapshot lacks stay)`);
      }
      entry.state = "empty";
    }
    return plan;
  }

  private async volumeIsEmpty(name: string): Promise<boolean> {
    return withHelperContainer(this.client, [`${name}:${HELPER_MOUNT}:ro`], async (helper) => {
      const tar = await this.client.getArchive(helper, HELPER_MOUNT);
      try {
        let entries = 0;
        for await (const entry of readTar(tar)) {
          void entry;
          if (++entries > 1) return false;
        }
        return true;
      } finally {
        tar.destroy();
      }
    });
  }

  // ---- images -------------------------------------------------------------------------------

  private async restoreImage(image: StoredImage, requestedTags: string[]): Promise<void> {
    const id = image.inspect.Id;
    // Every tag the image had: `docker save` of one name lists only that name in its manifest,
    // the stored inspect all of them (compose files may use any).
    const tags = [...new Set([...(image.manifest.RepoTags ?? []), ...(image.inspect.RepoTags ?? []).filter((t) => t !== "<none>:<none>"), ...requestedTags])];
    const keptTags: string[] = [];
    const freeTags: string[] = [];
    for (const tag of tags) {
      const current = await this.client.findImage(tag);
      if (!current || current.Id === id || this.options.force) freeTags.push(tag);
      else keptTags.push(tag);
    }
    for (const tag of keptTags) this.info(`image ${image.ref}: tag ${tag} names another image in the engine; left as it is (--force moves it)`);
    if (await this.client.findImage(id)) {
      for (const tag of freeTags) {
        const current = await this.client.findImage(tag);
        if (current?.Id === id) continue;
        const { repository, tag: name } = splitImageRef(tag);
        await this.client.tagImage(id, repository, name);
      }
      this.info(`image ${image.ref}: already in the engine`);
      this.result.images.push({ ref: image.ref, id, action: "present" });
      return;
    }
    this.info(`image ${image.ref}: loading ${image.layers.size} layer(s)`);
    await this.client.loadImage(this.upload(treeToTar(this.repo, this.imageArchive(image, freeTags))));
    const loaded = await this.client.findImage(id);
    if (!loaded) throw new IntegrityError(`image ${image.ref}: the engine did not load it as ${id}; its stored layers or configuration do not match`);
    this.result.images.push({ ref: image.ref, id, action: "loaded" });
  }

  /** A `docker save` archive rebuilt from the stored files. */
  private imageArchive(image: StoredImage, tags: string[]): TarItem[] {
    const manifest = [{ ...image.manifest, RepoTags: tags.length > 0 ? tags : null }];
    const file = (name: string): TreeNode => ({ name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "1970-01-01T00:00:00.000000000Z" });
    const items: TarItem[] = [
      { path: Buffer.from(IMAGE_MANIFEST), node: file(IMAGE_MANIFEST), recursive: false, data: Buffer.from(JSON.stringify(manifest)) },
      { path: Buffer.from(image.manifest.Config), node: image.config, recursive: false },
    ];
    if (image.manifest.Config !== IMAGE_CONFIG) throw new IntegrityError(`image ${image.ref}: manifest.json does not point at ${IMAGE_CONFIG}`);
    for (const layerPath of new Set(image.manifest.Layers)) {
      const layer = image.layers.get(layerPath.slice(`${LAYERS_DIR}/`.length));
      if (!layerPath.startsWith(`${LAYERS_DIR}/`) || !layer) throw new IntegrityError(`image ${image.ref}: layer ${layerPath} is missing from the snapshot`);
      items.push({ path: Buffer.from(layerPath), node: layer, recursive: false });
    }
    return items;
  }

  // ---- networks ------------------------------------------------------------------------------

  private async restoreNetwork(network: NetworkInspect): Promise<void> {
    const { Name, Driver, EnableIPv6, IPAM, Internal, Attachable, Options, Labels } = network;
    await this.client.createNetwork({ Name, Driver, EnableIPv6, Internal, Attachable, ...(IPAM ? { IPAM } : {}), Options: Options ?? {}, Labels: Labels ?? {} });
    this.info(`network ${Name}: created`);
    this.result.networks.push({ name: Name });
  }

  // ---- volumes ------------------------------------------------------------------------------

  private async restoreVolume(volume: StoredVolume, state: VolumeState): Promise<void> {
    const { name, inspect } = volume;
    if (state === "replace") {
      this.info(`volume ${name}: removing the existing one (--force)`);
      await this.client.removeVolume(name);
    }
    if (state !== "empty") await this.client.createVolume({ Name: name, Driver: inspect.Driver, DriverOpts: inspect.Options ?? {}, Labels: inspect.Labels ?? {} });
    if (volume.data) {
      const data = volume.data;
      this.info(`volume ${name}: filling`);
      await withHelperContainer(this.client, [`${name}:${HELPER_MOUNT}`], (helper) =>
        this.client.putArchive(helper, "/", this.upload(treeToTar(this.repo, [{ path: Buffer.from(HELPER_MOUNT.slice(1)), node: data, recursive: true }]))),
      );
    }
    this.result.volumes.push({ name, action: state === "missing" ? "created" : state === "empty" ? "filled" : "replaced" });
  }

  // ---- containers ---------------------------------------------------------------------------

  private async restoreContainer(stored: StoredContainer, names: Map<string, string>): Promise<void> {
    const { name, inspect: saved } = stored;
    const changes = stored.changes?.filter((c) => !underMount(saved, c.Path));
    const hasImage = (await this.client.findImage(saved.Image)) !== undefined;
    const fromImage = hasImage && changes !== undefined && !changes.some((c) => c.Kind === 2);
    let image: string;
    if (fromImage) {
      const named = await this.client.findImage(normalizeImageRef(saved.Config.Image));
      image = named?.Id === saved.Image ? saved.Config.Image : saved.Image;
    } else {
      const why = !hasImage ? `its image ${saved.Image} is not in the engine` : changes ? "it had deleted files of its image" : `its stored ${CONTAINER_CHANGES} is not a list of changes`;
      this.info(`container ${name}: ${why}; importing its stored file system as the image cairn-restore/${name}`);
      const rootfs = stored.rootfs.subtree ? await this.repo.loadTree(stored.rootfs.subtree) : [];
      const items = rootfs.map((node) => ({ path: Buffer.from(node.nameRaw ?? node.name), node, recursive: true }));
      image = `cairn-restore/${name}:latest`;
      const previous = await this.client.findImage(image);
      const imported = await this.client.importImage(this.upload(treeToTar(this.repo, items)), `cairn-restore/${name}`, "latest");
      // The image of an earlier restore lost its name to this one: removed, unless a container still uses it.
      if (previous && previous.Id !== imported) await this.client.removeImage(previous.Id).catch(() => undefined);
    }
    const id = await this.client.createContainer(createOptionsFor(saved, image, names));
    try {
      for (const [network, endpoint] of additionalEndpoints(saved)) await this.client.connectNetwork(network, id, endpoint);
      if (fromImage && changes && changes.length > 0) {
        const items: TarItem[] = [];
        // Older snapshots stored the engine's order.
        for (const change of byPath(changes)) {
          const found = await nodeAtPath(this.repo, stored.rootfs, change.Path);
          if (found) items.push({ path: found.path, node: found.node, recursive: false });
        }
        this.info(`container ${name}: putting back ${items.length} changed path(s)`);
        await this.client.putArchive(id, "/", this.upload(treeToTar(this.repo, items)));
      }
    } catch (err) {
      // A container without its files or networks is not the one backed up: do not leave it behind.
      await this.client.removeContainer(id).catch(() => undefined);
      throw err;
    }
    let started = false;
    let paused = false;
    if (saved.State.Running && this.options.start !== false) {
      try {
        await this.client.start(id);
        started = true;
      } catch (err) {
        this.result.problems.push({ object: `container ${name}`, message: `created but could not be started: ${(err as Error).message}` });
      }
    }
    // Paused when backed up (by its owner: cairn's own pause is not in what it records) is how it comes back.
    if (started && saved.State.Paused) {
      try {
        await this.client.pause(id);
        paused = true;
      } catch (err) {
        this.result.problems.push({ object: `container ${name}`, message: `started but could not be paused as it was: ${(err as Error).message}` });
      }
    }
    this.info(`container ${name}: created${started ? " and started" : ""}${paused ? ", then paused as it was" : ""}`);
    this.result.containers.push({ name, id, image, fromFilesystem: !fromImage, started, paused });
  }
}

/** Restores the Docker objects of a snapshot into the engine of DOCKER_HOST (or the default socket). */
export async function restoreToDocker(repo: Repository, rootTree: Id, options: DockerRestoreOptions = {}): Promise<DockerRestoreResult> {
  return (await DockerRestorer.create(repo, options)).restore(rootTree);
}


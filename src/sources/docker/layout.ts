/**
 * Where Docker objects live in a snapshot's tree:
 *
 *   /docker/images/<repository>:<tag>/   manifest.json, config.json, image.json, layers/<sha256>.tar
 *   /docker/containers/<name>/           config.json, changes.json, rootfs/…
 *   /docker/volumes/<name>/              volume.json, data/…
 *   /docker/networks/<name>/             network.json (user-defined networks the containers use)
 *
 * A repository with slashes ("registry:5000/team/app") becomes nested directories; an image
 * without a tag is stored under its id ("sha256:…").
 */
export const DOCKER_DIR = "docker";
export const IMAGES_DIR = "images";
export const CONTAINERS_DIR = "containers";
export const VOLUMES_DIR = "volumes";
export const NETWORKS_DIR = "networks";

/** docker save's manifest.json, pointing at config.json and layers/<digest>.tar. */
export const IMAGE_MANIFEST = "manifest.json";
/** The image configuration, byte-exact: its SHA-256 is the image id. */
export const IMAGE_CONFIG = "config.json";
/** The engine's `docker image inspect` of the image, as it was backed up. */
export const IMAGE_INSPECT = "image.json";
export const LAYERS_DIR = "layers";

/** The engine's `docker container inspect`, as it was backed up. */
export const CONTAINER_CONFIG = "config.json";
/** GET /containers/{id}/changes: what the container changed against its image. */
export const CONTAINER_CHANGES = "changes.json";
export const ROOTFS_DIR = "rootfs";

/** The engine's `docker volume inspect`. */
export const VOLUME_CONFIG = "volume.json";
export const VOLUME_DATA = "data";

/** The engine's `docker network inspect`. */
export const NETWORK_CONFIG = "network.json";

export function imageDir(ref: string): string[] {
  const parts = ref.split("/");
  return [DOCKER_DIR, IMAGES_DIR, ...parts];
}

export function containerDir(name: string): string[] {
  return [DOCKER_DIR, CONTAINERS_DIR, name];
}

export function volumeDir(name: string): string[] {
  return [DOCKER_DIR, VOLUMES_DIR, name];
}

export function networkDir(name: string): string[] {
  return [DOCKER_DIR, NETWORKS_DIR, name];
}

export function layerFileName(digestHex: string): string {
  return `${digestHex}.tar`;
}

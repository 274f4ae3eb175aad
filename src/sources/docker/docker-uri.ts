import { UsageError } from "../../errors.js";

/** What a `docker:` source names. */
export type DockerTarget = { kind: "image"; ref: string } | { kind: "container"; name: string } | { kind: "volume"; name: string } | { kind: "all" };

export const DOCKER_SCHEME = "docker:";
export const DOCKER_ALL = "docker:all";

const USAGE = "use docker:image/NAME[:TAG], docker:container/NAME, docker:volume/NAME or docker:all";
/** Container and volume names as the engine allows them (ids are plain hex, which also fits). */
const OBJECT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const IMAGE_REF = /^[a-z0-9][a-z0-9._/:@-]*$/i;

export function isDockerUri(argument: string): boolean {
  return argument.startsWith(DOCKER_SCHEME);
}

/**
 * An image reference with its tag made explicit ("busybox" is "busybox:latest"), the way the
 * engine lists it in RepoTags. Ids ("sha256:…") and digest references are kept as they are.
 */
export function normalizeImageRef(ref: string): string {
  if (IMAGE_ID.test(ref) || ref.includes("@")) return ref;
  return ref.lastIndexOf(":") > ref.lastIndexOf("/") ? ref : `${ref}:latest`;
}

/** Splits "registry:5000/team/app:1.2" into its repository and tag. */
export function splitImageRef(ref: string): { repository: string; tag: string } {
  const normalized = normalizeImageRef(ref);
  const colon = normalized.lastIndexOf(":");
  return { repository: normalized.slice(0, colon), tag: normalized.slice(colon + 1) };
}

export function parseDockerUri(uri: string): DockerTarget {
  const rest = uri.slice(DOCKER_SCHEME.length);
  if (uri === DOCKER_ALL) return { kind: "all" };
  const slash = rest.indexOf("/");
  const kind = slash === -1 ? rest : rest.slice(0, slash);
  const name = slash === -1 ? "" : rest.slice(slash + 1);
  if (kind === "image") {
    if (!IMAGE_REF.test(name) || name.includes("//") || name.endsWith("/") || name.endsWith(":")) throw new UsageError(`${uri}: not a valid image name; ${USAGE}`);
    return { kind, ref: normalizeImageRef(name) };
  }
  if (kind === "container" || kind === "volume") {
    if (!OBJECT_NAME.test(name)) throw new UsageError(`${uri}: not a valid ${kind} name; ${USAGE}`);
    return { kind, name };
  }
  throw new UsageError(`${uri}: not a Docker source; ${USAGE}`);
}

/** Parses a KEY=VALUE (or bare KEY) label selector, as `docker ps --filter label=…` takes it. */
export function parseLabelSelector(text: string): string {
  if (!/^[^=\s]+(=.*)?$/.test(text)) throw new UsageError(`--docker-label ${JSON.stringify(text)}: expected KEY=VALUE`);
  return text;
}

import type { Command } from "commander";
import { ExitCode, UsageError } from "../errors.js";
import { engineEndpoint } from "../sources/docker/engine-client.js";
import { restoreToDocker, type DockerObjectKind, type DockerObjectRef } from "../sources/docker/restore-to-docker.js";
import { shortId } from "../store/id.js";
import { selectSnapshot } from "../store/snapshot/snapshot-filter.js";
import { abortOnSignals } from "./abort-on-signals.js";
import { commandContext } from "./command-context.js";
import { localTime } from "../platform/local-time.js";
import { withRepository } from "./repository-session.js";
import { splitSnapshotPath } from "./snapshot-argument.js";
import { snapshotFilter } from "./snapshot-options.js";

export interface DockerRestoreFlags {
  host: string[];
  tag: string[];
  path: string[];
  at?: string;
  target?: string;
  toPostgres?: string;
  only?: string[];
  force: boolean;
}

const KINDS: readonly DockerObjectKind[] = ["image", "container", "volume"];

/** --only's words: "container web", "container/web" or "docker:container/web", any number of them. */
export function parseOnly(words: readonly string[]): DockerObjectRef[] {
  const refs: DockerObjectRef[] = [];
  for (let i = 0; i < words.length; ) {
    const word = words[i]!.replace(/^docker:/, "");
    const slash = word.indexOf("/");
    const kind = (slash === -1 ? word : word.slice(0, slash)) as DockerObjectKind;
    const name = slash === -1 ? words[i + 1] : word.slice(slash + 1);
    const used = slash === -1 ? 2 : 1;
    if (!KINDS.includes(kind) || !name) throw new UsageError(`--only ${words.slice(i, i + used).join(" ")}: expected image, container or volume and a name, e.g. --only container web`);
    refs.push({ kind, name });
    i += used;
  }
  return refs;
}

/** `restore --to-docker`: the snapshot's images, volumes and containers go back into the engine. */
export async function restoreIntoDocker(argument: string, flags: DockerRestoreFlags, command: Command): Promise<void> {
  const { globals, out } = commandContext(command);
  if (flags.target || flags.toPostgres) throw new UsageError("give one of --target, --to-docker and --to-postgres");
  const { selector, path } = splitSnapshotPath(argument);
  if (path) throw new UsageError("--to-docker restores whole images, containers and volumes: choose them with --only, not SNAPSHOT:PATH");
  const only = parseOnly(flags.only ?? []);
  await withRepository(globals, out, "read", async (repo) => {
    const snapshot = selectSnapshot(await repo.listSnapshots(), selector, snapshotFilter(flags));
    out.info(`restoring the Docker objects of snapshot ${shortId(snapshot.id)} (${localTime(snapshot.time)}) into the engine at ${engineEndpoint()}`);
    const result = await abortOnSignals((signal) => restoreToDocker(repo, snapshot.tree, { only, force: flags.force, onInfo: (m) => out.info(m), signal }));
    for (const p of result.problems) out.error(`${p.object}: ${p.message}`);
    const loaded = result.images.filter((i) => i.action === "loaded").length;
    out.line(`restored ${loaded} image(s) (${result.images.length - loaded} already present), ${result.volumes.length} volume(s), ${result.networks.length} network(s), ${result.containers.length} container(s)`);
    for (const c of result.containers) out.line(`container ${c.name}: ${shortId(c.id.replace(/^sha256:/, ""))} from ${c.fromFilesystem ? "its stored file system" : `image ${c.image}`}${c.started ? ", started" : ""}${c.paused ? ", paused" : ""}`);
    out.record({ message_type: "summary", snapshot_id: snapshot.id, images: result.images, volumes: result.volumes, networks: result.networks, containers: result.containers.map((c) => ({ name: c.name, id: c.id, image: c.image, from_filesystem: c.fromFilesystem, started: c.started, paused: c.paused })), problems: result.problems });
    if (result.problems.length > 0) process.exitCode = ExitCode.fatal;
  });
}

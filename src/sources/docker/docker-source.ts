import type { BackupContext } from "../../backup/backup-context.js";
import type { BackupSource } from "../../backup/backup-source.js";
import type { ParentLookup } from "../../backup/parent-lookup.js";
import type { SnapshotTreeBuilder } from "../../backup/snapshot-tree-builder.js";
import { CairnError } from "../../errors.js";
import { archiveContainer } from "./container-source.js";
import { DockerSession, tolerate, type DockerBackupOptions, type DockerRun } from "./docker-run.js";
import { parseDockerUri, type DockerTarget } from "./docker-uri.js";
import { archiveImage } from "./image-source.js";
import { archiveVolume } from "./volume-source.js";

/**
 * A `docker:` argument of a backup: docker:image/NAME[:TAG], docker:container/NAME (with its
 * image and volumes), docker:volume/NAME, or docker:all (every container, or with labels only
 * those carrying them, plus the volumes carrying them). Its snapshot path is the URI, with
 * what tells it apart from the same URI on another engine or with other labels (retention and
 * parent snapshots go by host and paths): `docker:all@tcp://10.0.0.5:2375?label=tier=db`. What
 * it stores lives under /docker in the snapshot.
 */
export class DockerSource implements BackupSource {
  readonly path: string;
  readonly target: DockerTarget;

  constructor(
    uri: string,
    private readonly session: DockerSession,
  ) {
    this.target = parseDockerUri(uri);
    const remote = session.remoteEndpoint;
    const labels = this.target.kind === "all" ? [...session.labels].sort() : [];
    this.path = `${uri}${remote ? `@${remote}` : ""}${labels.length > 0 ? `?${labels.map((l) => `label=${l}`).join("&")}` : ""}`;
  }

  get facts(): Record<string, string> {
    return this.session.facts;
  }

  /**
   * Fails before anything is written when the engine is unreachable, the object does not
   * exist, or labels select nothing (a nightly job would save empty snapshots without a word).
   */
  async check(): Promise<void> {
    await this.session.connect();
    const { client, labels } = this.session;
    const t = this.target;
    if (t.kind === "image") await client.inspectImage(t.ref);
    else if (t.kind === "container") await client.inspectContainer(t.name);
    else if (t.kind === "volume") await client.inspectVolume(t.name);
    else if (labels.length > 0 && (await client.listContainers(labels)).length === 0 && (await client.listVolumes(labels)).length === 0) {
      throw new CairnError(`docker:all: no container or volume carries the label${labels.length > 1 ? "s" : ""} ${labels.join(", ")}; nothing was written`);
    }
  }

  async archive(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup): Promise<void> {
    await this.session.connect();
    const run: DockerRun = { session: this.session, ctx, tree, parent };
    const t = this.target;
    if (t.kind === "image") return tolerate(run, this.path, () => archiveImage(run, t.ref));
    if (t.kind === "container") return tolerate(run, this.path, () => archiveContainer(run, t.name));
    if (t.kind === "volume") return tolerate(run, this.path, () => archiveVolume(run, t.name));
    const { client, labels } = this.session;
    for (const container of await client.listContainers(labels)) {
      await tolerate(run, `docker:container/${container.Names[0]?.replace(/^\//, "") ?? container.Id}`, () => archiveContainer(run, container.Id));
    }
    if (labels.length > 0) {
      for (const volume of await client.listVolumes(labels)) await tolerate(run, `docker:volume/${volume.Name}`, () => archiveVolume(run, volume.Name));
    }
  }
}

const sessions = new WeakMap<object, DockerSession>();

/**
 * The Docker source for one argument. Arguments given with the same `scope` (one backup's
 * flags) share one engine connection and one record of what is stored, so `docker:all` plus
 * `docker:image/x` reads x once.
 */
export function dockerSource(uri: string, options: DockerBackupOptions, scope: object, env: NodeJS.ProcessEnv = process.env): DockerSource {
  let session = sessions.get(scope);
  if (!session) {
    session = new DockerSession(options, env);
    sessions.set(scope, session);
  }
  return new DockerSource(uri, session);
}

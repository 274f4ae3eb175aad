import { createdAt, ensureDir, jsonBytes, savedFileNode, type DockerRun } from "./docker-run.js";
import { NETWORK_CONFIG, networkDir } from "./layout.js";

/** Networks every engine has; they are never stored or created. */
export const BUILTIN_NETWORKS: ReadonlySet<string> = new Set(["bridge", "host", "none"]);

/**
 * Stores a user-defined network a container is attached to (a Compose project's default
 * network, say) as network.json, so that the container can be attached to it again on an
 * engine that does not have it.
 */
export async function archiveNetwork(run: DockerRun, name: string): Promise<void> {
  if (BUILTIN_NETWORKS.has(name) || run.session.done.networks.has(name)) return;
  const network = await run.session.client.inspectNetwork(name);
  run.session.done.networks.add(name);
  // Which containers are attached changes all the time and is restored with them.
  const config = { ...network };
  delete config.Containers;
  const dir = networkDir(name);
  const created = createdAt(network.Created);
  ensureDir(run, dir, created);
  run.tree.put(dir, await savedFileNode(run, NETWORK_CONFIG, jsonBytes(config), created));
}

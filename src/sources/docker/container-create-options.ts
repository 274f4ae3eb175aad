import type { ContainerCreateOptions, ContainerInspect, EndpointSettings } from "./engine-client.js";

/** What a container asked of one network: the part of an inspected endpoint that is configuration. */
export type EndpointConfig = Pick<EndpointSettings, "IPAMConfig" | "Links" | "Aliases" | "DriverOpts">;

/** Settings the engine refuses alongside `--network container:…` (or `host`): they belong to the other namespace. */
const CONFIG_NOT_WITH = { container: ["Hostname", "Domainname", "ExposedPorts", "MacAddress"], host: ["MacAddress"] } as const;
const HOST_CONFIG_NOT_WITH = { container: ["PortBindings", "PublishAllPorts", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "Links"], host: ["Links"] } as const;

function sharedNamespace(networkMode: unknown): "container" | "host" | undefined {
  if (typeof networkMode !== "string") return undefined;
  if (networkMode.startsWith("container:")) return "container";
  return networkMode === "host" ? "host" : undefined;
}

/**
 * The endpoints the container had, by network. The engine adds the container's short id as
 * an alias on user-defined networks; the old one is not asked for again, or every restore
 * would add one more.
 */
function savedEndpoints(saved: ContainerInspect): [string, EndpointConfig][] {
  const networks = (saved.NetworkSettings?.Networks ?? {}) as Record<string, EndpointConfig>;
  const oldShortId = saved.Id.slice(0, 12);
  return Object.entries(networks).map(([name, ep]) => {
    const aliases = (ep.Aliases ?? []).filter((a) => a !== oldShortId);
    const config: EndpointConfig = {
      ...(ep.IPAMConfig ? { IPAMConfig: ep.IPAMConfig } : {}),
      ...(ep.Links ? { Links: ep.Links } : {}),
      ...(aliases.length > 0 ? { Aliases: aliases } : {}),
      ...(ep.DriverOpts ? { DriverOpts: ep.DriverOpts } : {}),
    };
    return [name, config];
  });
}

/** The network a container is created on: its NetworkMode's when it has an endpoint there, else its first. */
function primaryNetwork(saved: ContainerInspect, endpoints: [string, EndpointConfig][]): string | undefined {
  const mode = saved.HostConfig.NetworkMode;
  return endpoints.find(([name]) => name === mode)?.[0] ?? endpoints[0]?.[0];
}

/**
 * The networks to connect the container to after creating it. Engines below API 1.44 create
 * a container on one network only ("Container cannot be connected to network endpoints").
 */
export function additionalEndpoints(saved: ContainerInspect): [string, EndpointConfig][] {
  const endpoints = savedEndpoints(saved);
  const primary = primaryNetwork(saved, endpoints);
  return endpoints.filter(([name]) => name !== primary);
}

/**
 * The create request for a container as it was: its configuration (command, environment,
 * labels, hostname…) and host configuration as inspected, with references to other
 * containers by id turned into names, anonymous volumes mounted by name (they were
 * restored under their old names), and its primary network's endpoint (the others are
 * connected afterwards: additionalEndpoints).
 */
export function createOptionsFor(saved: ContainerInspect, image: string, names: Map<string, string>): ContainerCreateOptions {
  const config = { ...saved.Config } as ContainerInspect["Config"] & Record<string, unknown>;
  const host = { ...saved.HostConfig } as ContainerInspect["HostConfig"] & Record<string, unknown>;
  for (const key of ["NetworkMode", "IpcMode", "PidMode"] as const) {
    const mode = host[key];
    if (typeof mode === "string" && mode.startsWith("container:")) {
      const ref = mode.slice("container:".length);
      host[key] = `container:${names.get(ref) ?? ref}`;
    }
  }
  const shared = sharedNamespace(host.NetworkMode);
  if (shared) {
    for (const key of CONFIG_NOT_WITH[shared]) delete config[key];
    for (const key of HOST_CONFIG_NOT_WITH[shared]) delete host[key];
  }
  const covered = new Set([...(host.Binds ?? []).map((b) => b.split(":")[1]), ...(host.Mounts ?? []).map((m) => m.Target)]);
  const anonymous = saved.Mounts.filter((m) => m.Type === "volume" && m.Name && !covered.has(m.Destination));
  if (anonymous.length > 0) host.Mounts = [...(host.Mounts ?? []), ...anonymous.map((m) => ({ Type: "volume" as const, Source: m.Name!, Target: m.Destination, ReadOnly: !m.RW }))];
  const endpoints = savedEndpoints(saved);
  const primary = shared === "container" ? undefined : primaryNetwork(saved, endpoints);
  const EndpointsConfig = Object.fromEntries(endpoints.filter(([name]) => name === primary));
  return { ...(config as ContainerCreateOptions), name: saved.Name.replace(/^\//, ""), Image: image, HostConfig: host, NetworkingConfig: { EndpointsConfig } };
}

// A docker: source's snapshot path tells its snapshots apart from the same URI's on another
// engine or with other labels: retention and the parent snapshot go by host and paths, so a
// central host backing up several engines, or hourly and daily label jobs, must not share them.
import { expect, it } from "vitest";
import { dockerSource } from "../../src/sources/docker/docker-source.js";

const local = { DOCKER_HOST: "unix:///var/run/docker.sock" };

it("is the URI itself for this host's engine without labels", () => {
  expect(dockerSource("docker:all", {}, {}, local).path).toBe("docker:all");
  expect(dockerSource("docker:container/web", {}, {}, {}).path).toBe("docker:container/web");
});

it("names a remote engine and docker:all's labels, in a fixed order", () => {
  expect(dockerSource("docker:all", { labels: ["tier=db", "backup=daily"] }, {}, { DOCKER_HOST: "tcp://10.0.0.5:2375" }).path).toBe("docker:all@tcp://10.0.0.5:2375?label=backup=daily&label=tier=db");
  expect(dockerSource("docker:all", { labels: ["tier=db"] }, {}, local).path).toBe("docker:all?label=tier=db");
  // Labels select only what docker:all takes.
  expect(dockerSource("docker:volume/pgdata", { labels: ["tier=db"] }, {}, { DOCKER_HOST: "ssh://ops@db1" }).path).toBe("docker:volume/pgdata@ssh://ops@db1");
});

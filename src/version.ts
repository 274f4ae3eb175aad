import { readFileSync } from "node:fs";

/** The version in package.json, found relative to this file in both src/ and dist/src/. */
function readVersion(): string {
  for (const candidate of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "cairn" && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return "unknown";
}

export const PROGRAM_VERSION = readVersion();

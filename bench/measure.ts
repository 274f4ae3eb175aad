import { spawn } from "node:child_process";

/** What one measured command cost. */
export interface Measurement {
  wallSeconds: number;
  cpuSeconds: number;
  /** The system part of cpuSeconds: the kernel's share (file system, page faults, memory reclaim). */
  systemSeconds: number;
  /** Largest resident set of any process in the tree, from wait4's rusage (GNU time's %M). */
  peakRssMiB: number;
  exitCode: number;
}

export interface CommandSpec {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Runs a command under GNU time, which reports the rusage of the whole waited-for process tree:
 * user+system CPU summed over it, and the peak RSS of its largest member.
 */
export async function measure(spec: CommandSpec): Promise<Measurement> {
  const format = "CAIRN_BENCH %e %U %S %M %x";
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", format, ...spec.argv], {
      env: { ...process.env, ...spec.env },
      cwd: spec.cwd,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = stderr.split("\n").find((l) => l.startsWith("CAIRN_BENCH "));
      if (!line) return reject(new Error(`${spec.argv.join(" ")}: no timing output (exit ${code})\n${stderr.slice(-2000)}`));
      const [, wall, user, sys, rssKiB, exit] = line.split(" ");
      const result: Measurement = {
        wallSeconds: Number(wall),
        cpuSeconds: Number(user) + Number(sys),
        systemSeconds: Number(sys),
        peakRssMiB: Number(rssKiB) / 1024,
        exitCode: Number(exit),
      };
      if (result.exitCode !== 0) return reject(new Error(`${spec.argv.join(" ")} failed (exit ${result.exitCode}):\n${stderr.slice(-2000)}`));
      resolve(result);
    });
  });
}

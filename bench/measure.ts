import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** What one measured command cost. */
export interface Measurement {
  wallSeconds: number;
  cpuSeconds: number;
  /** The system part of cpuSeconds: the kernel's share (file system, page faults, memory reclaim). */
  systemSeconds: number;
  /**
   * CPU time the hypervisor gave to others while the command ran, all CPUs together (steal in
   * /proc/stat; 0 on bare metal). A guest charges the running process for stolen ticks, so
   * steal inflates both wall and CPU time without any change in the work.
   */
  stealSeconds: number;
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
  const stealBefore = stealTicks();
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
        stealSeconds: (stealTicks() - stealBefore) / USER_HZ,
        peakRssMiB: Number(rssKiB) / 1024,
        exitCode: Number(exit),
      };
      if (result.exitCode !== 0) return reject(new Error(`${spec.argv.join(" ")} failed (exit ${result.exitCode}):\n${stderr.slice(-2000)}`));
      resolve(result);
    });
  });
}

/** The kernel's clock-tick unit for /proc/stat, fixed at 100 on Linux. */
const USER_HZ = 100;

/** Ticks stolen from all CPUs since boot: the eighth number of /proc/stat's "cpu" line. */
function stealTicks(): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
    return Number(fields[8] ?? 0) || 0;
  } catch {
    return 0;
  }
}

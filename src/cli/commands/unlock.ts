import type { Command } from "commander";
import { describeLock, isStale, listLockObjects } from "../../store/lock/repository-lock.js";
import { commandContext } from "../command-context.js";
import { withBackend } from "../repository-session.js";

const LOCKS_PREFIX = "locks/";

interface UnlockFlags {
  removeAll: boolean;
}

export function registerUnlock(program: Command): void {
  program
    .command("unlock")
    .description("remove stale locks (of processes that are gone, or not refreshed for 30 minutes)")
    .option("--remove-all", "remove every lock, even those of running commands", false)
    .action(async (flags: UnlockFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      await withBackend(globals, out, "none", async (backend) => {
        let removed = 0;
        let kept = 0;
        for (const { key, lock } of await listLockObjects(backend)) {
          if (!flags.removeAll && lock && !isStale(lock)) {
            kept++;
            continue;
          }
          await backend.delete(key);
          removed++;
          out.line(`removed ${lock ? describeLock(lock) : `unreadable lock ${key}`}`);
          out.record({ message_type: "removed", key, ...(lock ? { pid: lock.pid, hostname: lock.hostname, exclusive: lock.exclusive, stale: isStale(lock) } : {}) });
        }
        // What a lock write killed half-way left; a minute is far longer than one takes.
        const temporary = await backend.removeTemporaryFiles(LOCKS_PREFIX, { olderThanMs: 60_000 });
        out.line(`removed ${removed} lock(s)${kept ? `, kept ${kept} held by running commands` : ""}${temporary ? `, and ${temporary} temporary file(s) of interrupted lock writes` : ""}`);
        out.record({ message_type: "summary", removed, kept, temporary_files_removed: temporary });
      });
    });
}

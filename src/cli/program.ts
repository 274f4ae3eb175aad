import { Command } from "commander";
import { UsageError } from "../errors.js";
import { setProcessCommand } from "../store/process-command.js";
import { PROGRAM_VERSION } from "../version.js";
import { registerBackup } from "./commands/backup.js";
import { registerCheck } from "./commands/check.js";
import { registerCopy } from "./commands/copy.js";
import { registerDiff } from "./commands/diff.js";
import { registerDump } from "./commands/dump.js";
import { registerFind } from "./commands/find.js";
import { registerForget } from "./commands/forget.js";
import { registerInit } from "./commands/init.js";
import { registerLs } from "./commands/ls.js";
import { registerPrune } from "./commands/prune.js";
import { registerRepair } from "./commands/repair.js";
import { registerRestore } from "./commands/restore.js";
import { registerSnapshots } from "./commands/snapshots.js";
import { registerStats } from "./commands/stats.js";
import { registerUnlock } from "./commands/unlock.js";
import { registerTag } from "./commands/tag.js";
import { addGlobalOptions } from "./global-options.js";

/**
 * The `cairn` command: global options plus one registered subcommand per file in commands/.
 * Commander errors throw (main turns them into one line and exit code 2) instead of exiting.
 */
export function buildProgram(): Command {
  // Subcommands copy these settings when they are created, so they are set before any is.
  const program = new Command("cairn")
    .description("incremental, content-addressed, deduplicating backups of directories, Docker and databases")
    .version(PROGRAM_VERSION)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`cairn: ${text.replace(/^error: /, "").trimEnd()}\n`) })
    .showHelpAfterError(false)
    .enablePositionalOptions(false);
  addGlobalOptions(program);
  registerInit(program);
  registerBackup(program);
  registerSnapshots(program);
  registerLs(program);
  registerRestore(program);
  registerCheck(program);
  registerRepair(program);
  registerUnlock(program);
  registerDump(program);
  registerDiff(program);
  registerFind(program);
  registerStats(program);
  registerTag(program);
  registerCopy(program);
  registerForget(program);
  registerPrune(program);
  for (const command of program.commands) if (command.commands.length > 0) requireSubcommand(command);
  // Locks name the command that holds them, wherever the global options were put on the line.
  program.hook("preAction", (_program, action) => setProcessCommand(commandPath(action)));
  return program;
}

/** "repair index" for `cairn -r R repair index`: the names from below the root down to `command`. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

/**
 * `cairn repair` alone would print its whole help as an error; say in one line what is missing.
 * Named subcommands are dispatched before this action, so it only sees what matches none.
 */
function requireSubcommand(command: Command): void {
  const names = command.commands.map((c) => c.name()).join(", ");
  command.helpCommand(true).allowExcessArguments(true).action((_flags: unknown, self: Command) => {
    const [given] = self.args;
    if (given === undefined) throw new UsageError(`${command.name()}: missing subcommand (one of: ${names})`);
    throw new UsageError(`${command.name()}: unknown subcommand '${given}' (one of: ${names})`);
  });
}

import { Command } from "commander";
import { PROGRAM_VERSION } from "../version.js";
import { registerBackup } from "./commands/backup.js";
import { registerCheck } from "./commands/check.js";
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

/** The `cairn` command: global options plus one registered subcommand per file in commands/. */
export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("incremental, content-addressed, deduplicating backups of directories, Docker and databases")
    .version(PROGRAM_VERSION)
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
  registerForget(program);
  registerPrune(program);
  return program;
}

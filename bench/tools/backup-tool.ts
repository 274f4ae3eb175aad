import type { CommandSpec } from "../measure.js";

/** One backup program under test, driven through its own command line. */
export interface BackupTool {
  readonly name: string;
  /** Whether the program is installed here. */
  available(): Promise<boolean>;
  init(repo: string): CommandSpec;
  backup(repo: string, source: string): CommandSpec;
  restoreLatest(repo: string, target: string): CommandSpec;
  checkFullRead(repo: string): CommandSpec;
}

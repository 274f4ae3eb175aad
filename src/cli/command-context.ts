import type { Command } from "commander";
import { globalOptions, type GlobalOptions } from "./global-options.js";
import { Output } from "./output.js";

/** What every command action starts from: the global options and where to print. */
export interface CommandContext {
  globals: GlobalOptions;
  out: Output;
}

export function commandContext(command: Command): CommandContext {
  const globals = globalOptions(command);
  return { globals, out: new Output(globals.json, globals.quiet) };
}

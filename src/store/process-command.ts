/** What this process is doing, as the records it leaves name it (locks, the index database's holder). */
let command = "";

/**
 * Sets the command those records name from now on; the CLI sets its subcommand ("backup",
 * "repair index"). Only the command's name: its arguments can hold credentials
 * (postgres://user:password@…), and these records are readable by whoever can list them.
 */
export function setProcessCommand(name: string): void {
  command = name;
}

export function processCommand(): string {
  return command;
}

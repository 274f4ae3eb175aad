import { readFileSync } from "node:fs";

/** Maps numeric ids to names from /etc/passwd and /etc/group, read once per process. */
class NameTable {
  private table: Map<number, string> | undefined;

  constructor(private readonly file: string) {}

  name(id: number): string | undefined {
    this.table ??= load(this.file);
    return this.table.get(id);
  }

  id(name: string): number | undefined {
    this.table ??= load(this.file);
    for (const [id, n] of this.table) if (n === name) return id;
    return undefined;
  }
}

function load(file: string): Map<number, string> {
  const table = new Map<number, string>();
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return table;
  }
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id !== undefined && /^\d+$/.test(id) && !table.has(Number(id))) table.set(Number(id), name);
  }
  return table;
}

export const users = new NameTable("/etc/passwd");
export const groups = new NameTable("/etc/group");

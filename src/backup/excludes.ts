import ignore, { type Ignore } from "ignore";
import type { ExcludeFilter } from "./backup-context.js";

export interface ExcludeOptions {
  /** gitignore-style patterns (from --exclude and --exclude-file). */
  patterns?: readonly string[];
  /** The absolute paths being backed up: patterns are also matched relative to each. */
  roots?: readonly string[];
  /** Files larger than this many bytes are left out. */
  largerThan?: number;
}

/**
 * Builds the filter for --exclude, --exclude-file and --exclude-larger-than.
 *
 * A path is tested twice against the gitignore rules: as the path relative to the backup root
 * it is under (so `/cache` or `build/` mean what they mean in a .gitignore at that root), and
 * as its absolute path (so `/home/*\/.cache` works as in restic). A pattern without a slash
 * matches a name at any depth; one ending in `/` matches directories only; `!` re-includes.
 * Matching is case-sensitive. Returns undefined when nothing is excluded.
 */
export function createExcludeFilter(options: ExcludeOptions): ExcludeFilter | undefined {
  const patterns = (options.patterns ?? []).filter((p) => p.trim() !== "");
  const largerThan = options.largerThan;
  if (patterns.length === 0 && largerThan === undefined) return undefined;
  const rules: Ignore | undefined = patterns.length > 0 ? ignore({ ignorecase: false }).add([...patterns]) : undefined;
  const roots = [...(options.roots ?? [])].map(trimSlash).sort((a, b) => b.length - a.length);
  return (path, isDir, size) => {
    if (largerThan !== undefined && !isDir && size > largerThan) return true;
    if (!rules) return false;
    const suffix = isDir ? "/" : "";
    const absolute = path.replace(/^\/+/, "");
    if (absolute !== "" && rules.ignores(absolute + suffix)) return true;
    const root = roots.find((r) => path.startsWith(r + "/"));
    return root !== undefined && rules.ignores(path.slice(root.length + 1) + suffix);
  };
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : "";
}

/** The patterns of an exclude file: one per line, `#` comments and blank lines ignored (as in .gitignore). */
export function parseExcludeFile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "" && !line.startsWith("#"));
}

import ignore from "ignore";
import type { DescendFilter, RestoreFilter } from "./restore-selection.js";

/**
 * Turns --include / --exclude patterns into a restore filter. Patterns follow .gitignore rules
 * (the `ignore` package) applied to snapshot paths: `*.log` matches at any depth, `/home/ann`
 * only at the root, `cache/` only directories, and a pattern that matches a directory covers
 * everything inside it. An item is restored when it matches an include pattern (or none were
 * given) and no exclude pattern; exclude wins.
 */
export function restorePatternFilter(include: readonly string[], exclude: readonly string[]): { filter?: RestoreFilter; descend?: DescendFilter } {
  if (include.length === 0 && exclude.length === 0) return {};
  const included = include.length > 0 ? ignore().add([...include]) : undefined;
  const excluded = ignore().add([...exclude]);
  // The ignore package takes relative paths, and a trailing slash for directories.
  const relative = (path: string, isDir: boolean) => path.replace(/^\/+/, "") + (isDir ? "/" : "");
  return {
    filter: (path, isDir) => {
      const rel = relative(path, isDir);
      return (!included || included.ignores(rel)) && !excluded.ignores(rel);
    },
    // Inside an excluded directory nothing can be restored: git's rule, which ignore follows.
    descend: (dir) => !excluded.ignores(relative(dir, true)),
  };
}

import { posix } from "node:path";
import picomatch from "picomatch";
import { UsageError } from "../errors.js";
import type { Id } from "../store/id.js";
import type { Repository } from "../store/repository.js";
import type { TreeNode } from "../store/tree/tree-node.js";

export interface FindMatch {
  path: string;
  node: TreeNode;
}

export interface FindOptions {
  ignoreCase?: boolean;
}

/** The matches below one directory, in path order: a match or the result of a subdirectory. */
interface Found {
  count: number;
  items: (FindMatch | Found)[];
}

const NOTHING: Found = { count: 0, items: [] };

/**
 * Finds paths matching glob patterns in snapshot trees. A pattern starting with a slash is
 * matched against the whole path (`/home/ann/*.txt`); another with a slash against the path's
 * last components (`ann/*.txt` finds /home/ann/notes.txt), as restic's patterns are; one
 * without against the name alone (`*.jpg`), as `find -name` would; a trailing slash matches
 * directories only. Results of each (tree, directory)
 * pair are kept, so searching many snapshots of the same data walks the shared trees once.
 */
export class PathFinder {
  private readonly matchers: ((path: string, node: TreeNode) => boolean)[];
  private readonly found = new Map<string, Found>();

  constructor(
    private readonly repo: Repository,
    patterns: readonly string[],
    options: FindOptions = {},
  ) {
    const glob = { dot: true, nocase: options.ignoreCase ?? false };
    this.matchers = patterns.map((given) => {
      // Read as the other commands read paths: `./a`, `a//b` and `a/x/../b` are `a`, `a/b`, `a/b`.
      const clean = given === "" ? given : posix.normalize(given);
      // A trailing slash, as in a shell or .gitignore, asks for directories only.
      const dirsOnly = clean.length > 1 && clean.endsWith("/");
      const pattern = dirsOnly ? clean.slice(0, -1) : clean;
      const isType = (node: TreeNode) => !dirsOnly || node.type === "dir";
      if (!pattern.includes("/")) {
        const isMatch = compile(pattern, glob, given);
        return (_path: string, node: TreeNode) => isType(node) && isMatch(node.name);
      }
      const isMatch = compile(pattern.startsWith("/") ? pattern : `**/${pattern}`, glob, given);
      return (path: string, node: TreeNode) => isType(node) && isMatch(path);
    });
  }

  /** Every match in the tree of a snapshot, in path order. */
  async *find(rootTree: Id): AsyncGenerator<FindMatch> {
    yield* flatten(await this.search(rootTree, ""));
  }

  private matches(path: string, node: TreeNode): boolean {
    return this.matchers.some((m) => m(path, node));
  }

  private async search(tree: Id, dir: string): Promise<Found> {
    const key = `${tree}\0${dir}`;
    const known = this.found.get(key);
    if (known) return known;
    const items: (FindMatch | Found)[] = [];
    let count = 0;
    for (const node of await this.repo.loadTree(tree)) {
      const path = `${dir}/${node.name}`;
      if (this.matches(path, node)) {
        items.push({ path, node });
        count++;
      }
      if (node.type === "dir") {
        const below = await this.search(node.subtree!, path);
        if (below.count > 0) {
          items.push(below);
          count += below.count;
        }
      }
    }
    const result = count === 0 ? NOTHING : { count, items };
    this.found.set(key, result);
    return result;
  }
}

/** picomatch throws a TypeError on an empty or overlong pattern: that is the caller's input, not a bug. */
function compile(pattern: string, options: picomatch.PicomatchOptions, given = pattern): (path: string) => boolean {
  if (pattern === "") throw new UsageError("empty pattern: give a glob such as '*.jpg' or '/home/*/notes.txt'");
  try {
    return picomatch(pattern, options);
  } catch (err) {
    throw new UsageError(`invalid pattern ${JSON.stringify(given.slice(0, 100))}: ${(err as Error).message}`);
  }
}

function* flatten(found: Found): Generator<FindMatch> {
  for (const item of found.items) {
    if ("node" in item) yield item;
    else yield* flatten(item);
  }
}

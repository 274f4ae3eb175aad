import { realpath } from "node:fs/promises";
import * as path from "node:path";
import { CairnError } from "../errors.js";
import { LocalBackend } from "../store/backend/local-backend.js";
import type { Repository } from "../store/repository.js";

/**
 * Keeps a restore off the repository it reads: one kept under the tree it backs up (and left
 * out of the backup) is the usual case, and `restore --delete` into that tree would remove it,
 * a restore of a snapshot that holds it would write over it. Paths are compared as the restorer
 * makes them (the target as given, then `/name` for each name below it), with repeated slashes
 * read as one.
 */
export class RepositoryGuard {
  private constructor(private readonly repository: string) {}

  /**
   * The guard for restoring `repo` into `target`, or undefined when the repository is not
   * inside the target (nothing to guard); a target inside the repository (or the repository
   * itself) is refused.
   */
  static async forTarget(repo: Repository, target: string): Promise<RepositoryGuard | undefined> {
    if (!(repo.backend instanceof LocalBackend)) return undefined;
    const repositoryReal = await realOrResolved(repo.backend.root);
    const targetReal = await realOrResolved(target);
    if (isOrIsBelow(targetReal, repositoryReal)) throw new CairnError(`cannot restore into ${target}: it is inside the repository`);
    if (!isOrIsBelow(repositoryReal, targetReal)) return undefined;
    return new RepositoryGuard(clean(`${target}/${path.relative(targetReal, repositoryReal)}`));
  }

  /** Whether `entry` is the repository or inside it: nothing may be written there. */
  holds(entry: Buffer): boolean {
    return isOrIsBelow(clean(entry.toString()), this.repository);
  }

  /** Whether removing `entry` would remove the repository. */
  protects(entry: Buffer): boolean {
    return isOrIsBelow(this.repository, clean(entry.toString()));
  }
}

function isOrIsBelow(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`);
}

function clean(p: string): string {
  const single = p.replace(/\/+/g, "/");
  return single.length > 1 && single.endsWith("/") ? single.slice(0, -1) : single;
}

/** A path that does not exist yet (a dry run's target) is taken as it reads. */
async function realOrResolved(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return path.resolve(p);
  }
}

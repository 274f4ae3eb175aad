import type { BackupContext } from "./backup-context.js";
import type { ParentLookup } from "./parent-lookup.js";
import type { SnapshotTreeBuilder } from "./snapshot-tree-builder.js";

/**
 * Something a backup reads: a directory, a stream, a container, a database. Each source puts
 * its nodes into the snapshot tree at its own absolute path (`path`, recorded in the snapshot).
 */
export interface BackupSource {
  readonly path: string;
  archive(ctx: BackupContext, tree: SnapshotTreeBuilder, parent: ParentLookup): Promise<void>;
  /** Facts worth keeping in the snapshot (server versions, dump options). */
  readonly facts?: Record<string, string>;
}

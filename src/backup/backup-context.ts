import type { Repository } from "../store/repository.js";
import type { ChangeDetectionOptions } from "./change-detection.js";

/** What a backup counts as it goes; the snapshot summary and the progress line are made from it. */
export interface BackupCounters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  filesRead: number;
  filesProcessed: number;
  bytesProcessed: number;
  errors: number;
}

export function emptyCounters(): BackupCounters {
  return { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, filesRead: 0, filesProcessed: 0, bytesProcessed: 0, errors: 0 };
}

/** A problem with one item that does not stop the backup (the snapshot is marked incomplete). */
export interface BackupWarning {
  path: string;
  message: string;
}

/** Decides whether a path is left out; `isDir` lets directory-only patterns apply. */
export type ExcludeFilter = (path: string, isDir: boolean, size: number) => boolean;

export interface BackupContext {
  repo: Repository;
  changeDetection: ChangeDetectionOptions;
  counters: BackupCounters;
  exclude?: ExcludeFilter;
  /** Directories containing a file of one of these names are left out. */
  excludeIfPresent: string[];
  /** Stay on the device of each path given. */
  oneFileSystem: boolean;
  warn(warning: BackupWarning): void;
  /** Called with the path of each file as it starts being read. */
  onFile?: (path: string) => void;
  signal?: AbortSignal;
}

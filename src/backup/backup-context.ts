import type { Id } from "../store/id.js";
import type { ChangeDetectionOptions, RacyTimes } from "./change-detection.js";
import type { FileBatcher } from "./file-batcher.js";
import type { BlobSink } from "./blob-sink.js";
import type { ParentListings } from "./parent-listing.js";
import type { ExclusionMarker } from "./exclusion-marker.js";

/** What a backup counts as it goes; the snapshot summary and the progress line are made from it. */
export interface BackupCounters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  /** Files opened and read (0 for an unchanged tree: change detection worked). */
  filesRead: number;
  /** Files finished (new, changed or unmodified). */
  filesProcessed: number;
  /** Bytes of the files finished plus those read so far of the files in progress. */
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

/** The content of a file read in this backup, shared by its other hard links. */
export interface SavedFile {
  content: Id[];
  size: number;
}

export interface BackupContext {
  /** Where blobs and trees go: the repository, or a counter for --dry-run. */
  repo: BlobSink;
  changeDetection: ChangeDetectionOptions;
  /** Set from the parent snapshot's start: what changed about then is read again. */
  racy?: RacyTimes;
  /** The parent snapshot's directories, loaded ahead of the walk. */
  parents: ParentListings;
  counters: BackupCounters;
  exclude?: ExcludeFilter;
  /** Directories holding one of these files are left out. */
  exclusionMarkers: ExclusionMarker[];
  /** Stay on the device of each path given (mount points are kept as empty directories). */
  oneFileSystem: boolean;
  /** Reads file contents on the worker threads, in batches. */
  files: FileBatcher;
  /** Files with several links read so far, by device and inode: each is read once. */
  hardlinks: Map<string, Promise<SavedFile | undefined>>;
  warn(warning: BackupWarning): void;
  /** Called with the path of each file as it starts being read. */
  onFile?: (path: string) => void;
  signal?: AbortSignal;
}

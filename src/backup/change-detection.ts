import { formatNanos, parseNanos } from "../store/tree/time.js";
import type { TreeNode } from "../store/tree/tree-node.js";

export interface ChangeDetectionOptions {
  /** Re-read every file, trusting nothing from the parent snapshot. */
  force: boolean;
  ignoreInode: boolean;
  ignoreCtime: boolean;
}

/**
 * File systems stamp a change with a clock that advances in ticks (a jiffy, at most 10 ms, on
 * Linux's local file systems), so a write in the tick in which a backup read the file leaves
 * size, mtime and ctime as they were. Twice the longest tick, to spare the coarse clock's lag.
 */
const FINE_TICK_NS = 20_000_000n;
/** Whole-second time stamps (FAT's mtime counts in two seconds), with the fine margin on top. */
const COARSE_TICK_NS = 2_000_000_000n + FINE_TICK_NS;
/** The form formatNanos gives for years 0000-9999, which compares as text in time order. */
const PLAIN_LENGTH = "0000-00-00T00:00:00.000000000Z".length;

/** The span of change times that no longer prove a node unchanged; see isRecentChange. */
export interface RacyTimes {
  fine: string;
  coarse: string;
  /** Later than this, a time was not stamped while the parent backup ran (a clock set ahead, a future mtime). */
  until?: string;
}

/**
 * `parentStart`: when the parent backup began (changes from a tick before it on may have been
 * missed by it); `parentEnd`: when it ended, if known. Without a start every file is read once.
 */
export function racyTimes(parentStart: Date | undefined, parentEnd?: Date): RacyTimes {
  if (parentStart === undefined || Number.isNaN(parentStart.getTime())) {
    const always = formatNanos(-(2n ** 62n));
    return { fine: always, coarse: always };
  }
  const start = BigInt(parentStart.getTime()) * 1_000_000n;
  const racy: RacyTimes = { fine: formatNanos(start - FINE_TICK_NS), coarse: formatNanos(start - COARSE_TICK_NS) };
  if (parentEnd !== undefined && !Number.isNaN(parentEnd.getTime())) racy.until = formatNanos(BigInt(parentEnd.getTime() + 1) * 1_000_000n + COARSE_TICK_NS);
  return racy;
}

/**
 * Whether `time` (a node's ctime, or its mtime when ctimes are ignored) falls so close to the
 * parent backup's start, or after it, that the file may have been changed again within the same
 * tick after that backup read it: then only its content can tell (git's "racily clean" entries,
 * borg's files cache rule).
 */
function isRecentChange(time: string, racy: RacyTimes): boolean {
  const since = time.endsWith(".000000000Z") ? racy.coarse : racy.fine;
  return notBefore(time, since) && (racy.until === undefined || notBefore(racy.until, time));
}

function notBefore(a: string, b: string): boolean {
  if (a.length === PLAIN_LENGTH && b.length === PLAIN_LENGTH) return a >= b;
  return parseNanos(a) >= parseNanos(b);
}

/**
 * A file whose type, size, mtime, ctime and inode match the parent's node has the same content
 * as then, so its content list can be reused without opening it (restic's rule), unless it was
 * changed too close to the parent backup for its times to show a later change.
 */
export function isUnchanged(current: TreeNode, previous: TreeNode | undefined, options: ChangeDetectionOptions, racy?: RacyTimes): boolean {
  if (options.force || !previous || previous.type !== "file" || current.type !== "file") return false;
  if (previous.content === undefined || previous.size !== current.size || previous.mtime !== current.mtime) return false;
  if (!options.ignoreCtime && previous.ctime !== current.ctime) return false;
  if (!options.ignoreInode && previous.inode !== current.inode) return false;
  return !racy || !isRecentChange(options.ignoreCtime ? current.mtime : current.ctime ?? current.mtime, racy);
}

/**
 * Setting or removing an extended attribute updates the ctime, so an object whose type, ctime
 * and inode match the parent's node still has the parent's attributes: they need not be listed
 * again (one to three system calls per file), unless the ctime is too close to the parent backup.
 */
export function xattrsUnchanged(current: TreeNode, previous: TreeNode | undefined, options: ChangeDetectionOptions, racy?: RacyTimes): boolean {
  if (options.force || options.ignoreCtime || !previous || previous.type !== current.type) return false;
  if (previous.ctime !== current.ctime || previous.inode !== current.inode || previous.deviceId !== current.deviceId) return false;
  return !racy || !isRecentChange(current.ctime ?? current.mtime, racy);
}

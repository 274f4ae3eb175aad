import type { BackupCounters } from "../backup/backup-context.js";
import type { ScanTotals } from "../backup/scanner.js";
import { formatBytes } from "./parse-options.js";
import { formatClock } from "./progress.js";

/** What the backup has done so far, and what the scan says there is to do. */
export interface BackupStatus {
  secondsElapsed: number;
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
  /** Totals are final (the scan has finished). */
  totalsKnown: boolean;
  /** 0..1, by bytes (by files while no bytes are expected). */
  percentDone: number;
  /** Only once the totals are known and some bytes are done. */
  secondsRemaining?: number;
  bytesPerSecond: number;
  errors: number;
  currentFile?: string;
}

export function backupStatus(started: number, counters: BackupCounters, totals: ScanTotals | undefined, currentFile: string | undefined): BackupStatus {
  const secondsElapsed = (Date.now() - started) / 1000;
  const bytesDone = counters.bytesProcessed;
  const filesDone = counters.filesProcessed;
  const totalBytes = Math.max(totals?.bytes ?? 0, bytesDone);
  const totalFiles = Math.max(totals?.files ?? 0, filesDone);
  const percentDone = totalBytes > 0 ? bytesDone / totalBytes : totalFiles > 0 ? filesDone / totalFiles : 0;
  const bytesPerSecond = secondsElapsed > 0 ? bytesDone / secondsElapsed : 0;
  const status: BackupStatus = {
    secondsElapsed,
    filesDone,
    bytesDone,
    totalFiles,
    totalBytes,
    totalsKnown: totals?.done ?? false,
    percentDone: Math.min(1, percentDone),
    bytesPerSecond,
    errors: counters.errors,
  };
  if (status.totalsKnown && percentDone > 0 && percentDone < 1) status.secondsRemaining = (secondsElapsed / percentDone) * (1 - percentDone);
  if (currentFile !== undefined) status.currentFile = currentFile;
  return status;
}

/** `[0:12] 45.20%  1234 / 5000 files  1.2 GiB / 2.6 GiB  98 MiB/s  ETA 0:15  /current/file` */
export function formatBackupStatus(s: BackupStatus): string {
  const parts = [`[${formatClock(s.secondsElapsed)}]`];
  if (s.totalsKnown) parts.push(`${(s.percentDone * 100).toFixed(2)}%`);
  parts.push(`${s.filesDone}${s.totalFiles > 0 ? ` / ${s.totalFiles}` : ""} files`);
  parts.push(`${formatBytes(s.bytesDone)}${s.totalBytes > 0 ? ` / ${formatBytes(s.totalBytes)}` : ""}`);
  parts.push(`${formatBytes(s.bytesPerSecond)}/s`);
  parts.push(s.secondsRemaining !== undefined ? `ETA ${formatClock(s.secondsRemaining)}` : "ETA -");
  if (s.errors > 0) parts.push(`${s.errors} errors`);
  if (s.currentFile) parts.push(s.currentFile);
  return parts.join("  ");
}

/** restic's `status` message, for --json. */
export function statusRecord(s: BackupStatus): Record<string, unknown> {
  const record: Record<string, unknown> = {
    message_type: "status",
    seconds_elapsed: Math.floor(s.secondsElapsed),
    percent_done: s.percentDone,
    total_files: s.totalFiles,
    files_done: s.filesDone,
    total_bytes: s.totalBytes,
    bytes_done: s.bytesDone,
    error_count: s.errors,
  };
  if (s.secondsRemaining !== undefined) record.seconds_remaining = Math.ceil(s.secondsRemaining);
  if (s.currentFile !== undefined) record.current_files = [s.currentFile];
  return record;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * A stored time (RFC 3339, kept in UTC) as this machine's wall-clock time, `YYYY-MM-DD
 * HH:MM:SS`: the clock --at and forget's policies read, and what restic shows. A time Date
 * cannot read is shown as stored.
 */
export function localTime(stored: string): string {
  const ms = Date.parse(stored);
  if (Number.isNaN(ms)) return stored;
  const d = new Date(ms);
  const y = d.getFullYear();
  const year = y >= 0 && y <= 9999 ? String(y).padStart(4, "0") : `${y < 0 ? "-" : "+"}${String(Math.abs(y)).padStart(6, "0")}`;
  return `${year}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

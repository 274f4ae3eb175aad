/**
 * One status line redrawn in place on a terminal (carriage return, erase to end of line),
 * cut to the terminal's width so it never wraps. Anything else written to the same terminal
 * while it is shown should call `clear()` first; the line comes back at the next tick.
 */
export class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly render: () => string,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.draw();
    this.timer = setInterval(() => this.draw(), this.intervalMs);
    this.timer.unref();
  }

  clear(): void {
    if (this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private draw(): void {
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r${truncate(this.render(), width)}\x1b[K`);
    this.shown = true;
  }
}

/** Cuts a line to `width` characters, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, width - 1).join("") + "…";
}

/** h:mm:ss or m:ss, as restic shows elapsed time and ETA. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

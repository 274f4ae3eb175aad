/**
 * Where a command's words go: human text on stdout, or one JSON object per line with --json;
 * warnings and errors always on stderr. --quiet keeps errors, warnings and what was asked for
 * (listings, tables, statistics): it silences only the commentary around them, as in restic.
 */
export class Output {
  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** A line of what the command reports (not shown with --json, which prints records instead, nor with --quiet). */
  line(text: string): void {
    if (!this.quiet) this.result(text);
  }

  /** A line of what the user asked to see (a listing, a table): --quiet keeps it, --json replaces it. */
  result(text: string): void {
    if (!this.json) this.stdout.write(text + "\n");
  }

  /** A machine-readable record; only with --json. */
  record(data: object): void {
    if (this.json) this.stdout.write(JSON.stringify(data) + "\n");
  }

  /** A whole result as one JSON document (lists of snapshots, stats); only with --json. */
  document(data: unknown): void {
    if (this.json) this.stdout.write(JSON.stringify(data) + "\n");
  }

  /** Informational message on stderr, e.g. "created repository at …". */
  info(text: string): void {
    if (!this.quiet) this.stderr.write(text + "\n");
  }

  warn(text: string): void {
    this.stderr.write(`warning: ${text}\n`);
  }

  error(text: string): void {
    this.stderr.write(`cairn: ${text}\n`);
  }
}

/** JSON output uses snake_case keys, like the repository's own documents. */
export function snakeCaseKeys(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}

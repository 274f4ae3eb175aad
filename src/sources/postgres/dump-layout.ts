/**
 * Where database dumps live in a snapshot: `/postgres/<server>/<dbname>.sql` (plain SQL) or
 * `<dbname>.dump` (pg_dump's custom format), `globals.sql` for roles and tablespaces, and
 * `create-database/<dbname>.sql` for each database's own definition.
 */
export type DumpFormat = "plain" | "custom";

export const DUMP_FORMATS: readonly DumpFormat[] = ["plain", "custom"];

/** Top-level directory of every PostgreSQL dump in a snapshot. */
export const POSTGRES_DIR = "postgres";

/** pg_dumpall --globals-only output, next to the databases' dumps. */
export const GLOBALS_FILE = "globals.sql";

const EXTENSION: Record<DumpFormat, string> = { plain: ".sql", custom: ".dump" };

/** A name usable as one path component: `%` and `/` are percent-encoded, `.` and `..` too. */
export function safeName(name: string): string {
  const encoded = name.replace(/[%/\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
  return encoded === "." || encoded === ".." ? encoded.replace(/\./g, "%2E") : encoded;
}

/**
 * Beside the dumps, one file per database with what `pg_restore --create` prints for the
 * database itself (see create-database-script.ts). A directory: no dump file name lacks an
 * extension, so none can clash with it.
 */
export const CREATE_DATABASE_DIR = "create-database";

/** The definition file of the database dumped as `dumpFile`: `shop.sql` and `shop.dump` both give `shop.sql`. */
export function createDatabaseFileName(dumpFile: string): string {
  const format = dumpFormatOf(dumpFile);
  return (format ? dumpFile.slice(0, -EXTENSION[format].length) : dumpFile) + EXTENSION.plain;
}

export function dumpFileName(database: string, format: DumpFormat): string {
  const name = safeName(database) + EXTENSION[format];
  // A database named "globals" must not take the globals file's name (nor be taken for it on
  // restore): its first letter is percent-encoded, which no other name can produce.
  return name === GLOBALS_FILE ? `%${name.charCodeAt(0).toString(16).toUpperCase()}${name.slice(1)}` : name;
}

/** The database a dump file holds, from its name: dumpFileName undone. */
export function databaseOfDumpFile(fileName: string): string {
  const format = dumpFormatOf(fileName);
  const encoded = format ? fileName.slice(0, -EXTENSION[format].length) : fileName;
  // Only ASCII characters are ever encoded, so they decode one char each.
  return encoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The format of a dump file, from its name; undefined for anything else. */
export function dumpFormatOf(fileName: string): DumpFormat | undefined {
  return DUMP_FORMATS.find((f) => fileName.endsWith(EXTENSION[f]));
}

import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { AlreadyExistsError, CairnError, ioError, NotFoundError, RepositoryNotFoundError } from "../../errors.js";
import type { Backend, ByteRange, ObjectInfo } from "./backend.js";

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const TEMP_PREFIX = ".tmp-";

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? "");
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A repository in a local directory. Writes go to a temporary file in the destination
 * directory, are fsynced, then hard-linked into place (which fails instead of overwriting; a
 * replace renames over instead), and the directory is fsynced so the new name survives a crash.
 */
export class LocalBackend implements Backend {
  private readonly knownDirs = new Set<string>();

  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split("/"));
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const parent = path.dirname(dir);
    if (parent !== dir && !this.knownDirs.has(parent) && path.relative(this.root, parent) !== "") {
      await this.ensureDir(parent);
    }
    try {
      await fs.mkdir(dir, { mode: DIR_MODE });
      await fsyncDir(parent);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw ioError("create directory", dir, err);
    }
    this.knownDirs.add(dir);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.writeThroughTemporary(key, data, async (temp, file) => {
      try {
        await fs.link(temp, file);
      } catch (err) {
        if (isErrno(err, "EEXIST")) throw new AlreadyExistsError(`${key} already exists in ${this.root}`);
        if (!isErrno(err, "EPERM", "ENOTSUP", "EOPNOTSUPP")) throw err;
        // File systems without hard links: check-then-rename is the best that remains.
        if (await this.stat(key)) throw new AlreadyExistsError(`${key} already exists in ${this.root}`);
        await fs.rename(temp, file);
      }
    });
  }

  async replace(key: string, data: Uint8Array): Promise<void> {
    await this.writeThroughTemporary(key, data, (temp, file) => fs.rename(temp, file));
  }

  /** Writes and fsyncs a temporary file beside `key`'s, has `install` give it its name, fsyncs the directory. */
  private async writeThroughTemporary(key: string, data: Uint8Array, install: (temp: string, file: string) => Promise<void>): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    await this.ensureDir(dir);
    const temp = path.join(dir, TEMP_PREFIX + randomBytes(8).toString("hex"));
    try {
      const handle = await fs.open(temp, "wx", FILE_MODE);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await install(temp, file);
      await fsyncDir(dir);
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw ioError("write", file, err);
    } finally {
      // Never in place of the error above (say, ENOTDIR when the directory is a file); a
      // temporary file left behind is harmless, and prune (or, under locks/, unlock) removes it.
      await fs.rm(temp, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (range) return this.readInto(key, range, Buffer.allocUnsafe(range.length));
    const file = this.pathOf(key);
    try {
      return await fs.readFile(file);
    } catch (err) {
      throw await this.readError(key, file, err);
    }
  }

  async readInto(key: string, range: ByteRange, into: Buffer): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      const handle = await fs.open(file, "r");
      try {
        let done = 0;
        while (done < range.length) {
          const { bytesRead } = await handle.read(into, done, range.length - done, range.offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        if (done !== range.length) {
          throw new NotFoundError(`${key}: short read (wanted ${range.length} bytes at ${range.offset}, got ${done})`);
        }
        return into.subarray(0, range.length);
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw await this.readError(key, file, err);
    }
  }

  private async readError(key: string, file: string, err: unknown): Promise<CairnError> {
    if (err instanceof CairnError) return err;
    if (isErrno(err, "ENOTDIR") && !(await fs.stat(this.root).then((st) => st.isDirectory(), () => false))) {
      return new RepositoryNotFoundError(`${this.root} is not a directory`);
    }
    if (isErrno(err, "ENOENT", "ENOTDIR")) return new NotFoundError(`${key} not found in ${this.root}`);
    return ioError("read", file, err);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* this.walk(prefix.replace(/\/+$/, ""));
  }

  private async *walk(keyDir: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fs.readdir(this.pathOf(keyDir), { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) return;
      throw ioError("list", this.pathOf(keyDir), err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const key = keyDir === "" ? entry.name : `${keyDir}/${entry.name}`;
      if (entry.isDirectory()) {
        yield* this.walk(key);
      } else if (entry.isFile()) {
        const info = await this.stat(key);
        if (info) yield info;
      }
    }
  }

  async removeTemporaryFiles(prefix: string, options: { olderThanMs?: number } = {}): Promise<number> {
    let removed = 0;
    const before = Date.now() - (options.olderThanMs ?? 0);
    const sweep = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isErrno(err, "ENOENT", "ENOTDIR")) return;
        throw ioError("list", dir, err);
      }
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await sweep(full);
        else if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX)) {
          if (options.olderThanMs !== undefined && (await fs.stat(full).then((st) => st.mtimeMs, () => before)) > before) continue;
          await fs.rm(full, { force: true });
          removed++;
        }
      }
    };
    await sweep(this.pathOf(prefix.replace(/\/+$/, "")));
    return removed;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
      throw ioError("stat", this.pathOf(key), err);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
      await fsyncDir(path.dirname(file));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      throw ioError("delete", file, err);
    }
  }
}

/** Size and key of a stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * A dumb object store: everything cairn keeps lives behind these six calls (and two optional
 * ones a backend may offer), so the same repository format works on a local directory today and
 * on object storage later.
 * Keys are slash-separated relative paths such as `data/ab/ab12…` or `snapshots/<id>`.
 */
export interface Backend {
  /** Human-readable location, used in messages. */
  readonly location: string;
  /** Stores `data` under `key` atomically and durably; throws AlreadyExistsError if the key exists. */
  put(key: string, data: Uint8Array): Promise<void>;
  /**
   * Stores `data` under `key` atomically and durably in place of what is there: readers see the
   * old object or the new one, never neither. Only for objects named by their hash whose stored
   * bytes turned out damaged (see storeNamedByHash).
   */
  replace(key: string, data: Uint8Array): Promise<void>;
  /** Reads a whole object, or a byte range of it; throws NotFoundError if it does not exist. */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  /**
   * Like get with a range, but into `into` (at least `range.length` bytes), returning the part
   * filled: lets a caller that reads many ranges reuse one buffer instead of leaving garbage.
   */
  readInto?(key: string, range: ByteRange, into: Buffer): Promise<Buffer>;
  /** Lists the objects whose key starts with `prefix` (a folder such as `snapshots/`). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Size of an object, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Removes an object; removing one that does not exist is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Backends that write through temporary names: removes those a killed writer left under
   * `prefix`, returning how many. Only safe when no writer can be active there, or with
   * `olderThanMs` longer than any write there takes.
   */
  removeTemporaryFiles?(prefix: string, options?: { olderThanMs?: number }): Promise<number>;
}

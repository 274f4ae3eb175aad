/** Exit codes shared by the library and the CLI (restic's where they exist). */
export const ExitCode = {
  ok: 0,
  fatal: 1,
  usage: 2,
  incomplete: 3,
  noRepository: 10,
  lockFailed: 11,
  wrongPassword: 12,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Base of every error cairn raises on purpose: a one-line message plus the exit code it maps to. */
export class CairnError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.fatal,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad arguments or options given by the caller. */
export class UsageError extends CairnError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** The repository is missing, not a repository, or its config is unreadable. */
export class RepositoryNotFoundError extends CairnError {
  constructor(message: string) {
    super(message, ExitCode.noRepository);
  }
}

/** Something stored in the repository is damaged or not what its name promises. */
export class IntegrityError extends CairnError {}

/** A lock (repository lock file or the index database) could not be taken in time. */
export class LockError extends CairnError {
  constructor(message: string) {
    super(message, ExitCode.lockFailed);
  }
}

/** The operation was stopped by SIGINT/SIGTERM. */
export class InterruptedError extends CairnError {
  constructor(message = "interrupted") {
    super(message, ExitCode.interrupted);
  }
}

/** An object that must not exist already does (backends never overwrite). */
export class AlreadyExistsError extends CairnError {}

/** An object that must exist does not. */
export class NotFoundError extends CairnError {}

/** What the common errno codes mean, without Node's "ENOENT: …, open '…'" around it. */
const PLAIN_REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "is a directory",
  EROFS: "read-only file system",
  EDQUOT: "disk quota exceeded",
};

/** An operating-system error on a repository file, with its errno code (EROFS, ENOSPC, …) for callers that act on it. */
export class IoError extends CairnError {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** An operating-system error as one line that names the operation and the path: `write /x: no space left on device`. */
export function ioError(op: string, file: string, err: unknown): IoError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (code && PLAIN_REASONS[code]) ?? (err as Error).message;
  return new IoError(`${op} ${file}: ${reason}`, code);
}

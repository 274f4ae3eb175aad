import type { Id } from "../store/id.js";

/** What a check can find; stable names for --json. */
export type FindingKind =
  | "index-file-damaged"
  | "index-conflict"
  | "index-layout"
  | "index-db-mismatch"
  | "pack-missing"
  | "pack-size"
  | "pack-trailer"
  | "pack-hash"
  | "pack-unreadable"
  | "blob-damaged"
  | "pack-unindexed"
  | "stray-object"
  | "snapshot-damaged"
  | "tree-damaged"
  | "file-damaged"
  | "unsafe-name";

/** One problem: errors make the check fail, warnings do not. The ids name what it concerns. */
export interface Finding {
  level: "error" | "warning";
  kind: FindingKind;
  message: string;
  pack?: Id;
  blob?: Id;
  indexFile?: Id;
  snapshot?: Id;
  /** A path inside the snapshot. */
  path?: string;
  /** A repository object that is not a pack (stray-object). */
  key?: string;
}

export type FindingRefs = Omit<Finding, "level" | "kind" | "message">;

/** Collects findings in the order they are made and passes each on as it comes. */
export class FindingLog {
  readonly findings: Finding[] = [];

  constructor(private readonly onFinding?: (finding: Finding) => void) {}

  error(kind: FindingKind, message: string, refs: FindingRefs = {}): void {
    this.add({ level: "error", kind, message, ...refs });
  }

  warning(kind: FindingKind, message: string, refs: FindingRefs = {}): void {
    this.add({ level: "warning", kind, message, ...refs });
  }

  get errors(): number {
    return this.findings.filter((f) => f.level === "error").length;
  }

  get warnings(): number {
    return this.findings.filter((f) => f.level === "warning").length;
  }

  private add(finding: Finding): void {
    this.findings.push(finding);
    this.onFinding?.(finding);
  }
}

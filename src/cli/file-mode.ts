import type { TreeNode } from "../store/tree/tree-node.js";

const KIND: Record<TreeNode["type"], string> = { file: "-", dir: "d", symlink: "l", fifo: "p", socket: "s", chardev: "c", blockdev: "b" };

/** `x` where the execute bit is set, `-` where not; a special bit shows as `on` over x, `off` over no x (as ls does). */
function executeColumn(mode: number, execute: number, special: number, on: string, off: string): string {
  if (mode & special) return mode & execute ? on : off;
  return mode & execute ? "x" : "-";
}

/** A mode as `ls -l` shows it: `-rwsr-xr-x`, `drwxrwxrwt`. */
export function modeString(node: Pick<TreeNode, "type" | "mode">): string {
  const m = node.mode;
  const r = (bit: number) => (m & bit ? "r" : "-");
  const w = (bit: number) => (m & bit ? "w" : "-");
  return (
    KIND[node.type] +
    r(0o400) + w(0o200) + executeColumn(m, 0o100, 0o4000, "s", "S") +
    r(0o040) + w(0o020) + executeColumn(m, 0o010, 0o2000, "s", "S") +
    r(0o004) + w(0o002) + executeColumn(m, 0o001, 0o1000, "t", "T")
  );
}

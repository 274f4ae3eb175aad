import { nodeNameBytes, type TreeNode } from "../store/tree/tree-node.js";

/**
 * A name from a tree may become one path component and nothing else: never empty, ".", "..",
 * and never holding a slash or a NUL. Anything else could lead a restore outside its target.
 */
export function unsafeNameReason(node: TreeNode): string | undefined {
  const bytes = nodeNameBytes(node);
  if (bytes.length === 0) return "empty name";
  if (bytes.equals(Buffer.from(".")) || bytes.equals(Buffer.from(".."))) return `name ${JSON.stringify(node.name)} is not allowed`;
  if (bytes.includes(0x2f)) return `name ${JSON.stringify(node.name)} contains a slash`;
  if (bytes.includes(0)) return `name ${JSON.stringify(node.name)} contains a NUL byte`;
  return undefined;
}

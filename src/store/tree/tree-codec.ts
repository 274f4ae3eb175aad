import { IntegrityError } from "../../errors.js";
import { isId, type Id } from "../id.js";
import { parseNanos } from "./time.js";
import { NODE_TYPES, nodeNameBytes, type NodeDamage, type NodeType, type TreeNode } from "./tree-node.js";

/** Orders nodes by the bytes of their names, so equal directories give equal tree blobs. */
export function compareNodes(a: TreeNode, b: TreeNode): number {
  return Buffer.compare(nodeNameBytes(a), nodeNameBytes(b));
}

/** Key order is fixed here; absent fields are omitted. */
function nodeToJson(node: TreeNode): Record<string, unknown> {
  const json: Record<string, unknown> = { name: node.name };
  if (node.nameRaw) json.name_raw = node.nameRaw.toString("base64");
  json.type = node.type;
  json.mode = node.mode;
  json.uid = node.uid;
  json.gid = node.gid;
  if (node.user !== undefined) json.user = node.user;
  if (node.group !== undefined) json.group = node.group;
  json.mtime = node.mtime;
  if (node.atime !== undefined) json.atime = node.atime;
  if (node.ctime !== undefined) json.ctime = node.ctime;
  if (node.inode !== undefined) json.inode = node.inode;
  if (node.deviceId !== undefined) json.device_id = node.deviceId;
  if (node.links !== undefined) json.links = node.links;
  if (node.size !== undefined) json.size = node.size;
  if (node.content !== undefined) json.content = node.content;
  if (node.subtree !== undefined) json.subtree = node.subtree;
  if (node.linkTarget !== undefined) json.linktarget = node.linkTarget;
  if (node.linkTargetRaw) json.linktarget_raw = node.linkTargetRaw.toString("base64");
  if (node.rdev !== undefined) json.rdev = node.rdev;
  if (node.xattrs?.length) json.xattrs = node.xattrs.map((x) => ({ name: x.name, value: x.value.toString("base64") }));
  if (node.damage) {
    const damage: Record<string, unknown> = {};
    if (node.damage.originalSize !== undefined) damage.original_size = node.damage.originalSize;
    if (node.damage.missingBlob !== undefined) damage.missing_blob = node.damage.missingBlob;
    if (node.damage.originalSubtree !== undefined) damage.original_subtree = node.damage.originalSubtree;
    json.damage = damage;
  }
  return json;
}

/** Serializes a directory listing: `{"nodes":[…]}` with nodes sorted by name bytes. */
export function serializeTree(nodes: readonly TreeNode[]): Buffer {
  const sorted = [...nodes].sort(compareNodes);
  for (let i = 1; i < sorted.length; i++) {
    if (compareNodes(sorted[i - 1]!, sorted[i]!) === 0) throw new Error(`duplicate name in tree: ${sorted[i]!.name}`);
  }
  return Buffer.from(JSON.stringify({ nodes: sorted.map(nodeToJson) }));
}

export function parseTree(id: Id, bytes: Buffer): TreeNode[] {
  const bad = (what: string) => new IntegrityError(`tree ${id}: ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw bad("not valid JSON");
  }
  const nodes = (doc as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) throw bad("no node list");
  return nodes.map((raw: unknown) => parseNode(raw, bad));
}

function parseNode(raw: unknown, bad: (what: string) => Error): TreeNode {
  if (typeof raw !== "object" || raw === null) throw bad("node is not an object");
  const n = raw as Record<string, unknown>;
  const str = (key: string, required = false): string | undefined => {
    const v = n[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string") throw bad(`node field ${key} is not a string`);
    return v;
  };
  const int = (key: string, required = false): number | undefined => {
    const v = n[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(`node field ${key} is not a non-negative integer`);
    return v;
  };
  const time = (key: string, required = false): string | undefined => {
    const v = str(key, required);
    if (v !== undefined) {
      try {
        parseNanos(v);
      } catch {
        throw bad(`node field ${key} is not a valid time`);
      }
    }
    return v;
  };
  const bytes = (key: string): Buffer | undefined => {
    const v = str(key);
    return v === undefined ? undefined : Buffer.from(v, "base64");
  };
  const type = str("type", true) as NodeType;
  if (!NODE_TYPES.includes(type)) throw bad(`unknown node type ${JSON.stringify(type)}`);
  const node: TreeNode = {
    name: str("name", true)!,
    type,
    mode: int("mode", true)!,
    uid: int("uid", true)!,
    gid: int("gid", true)!,
    mtime: time("mtime", true)!,
  };
  const assign = <K extends keyof TreeNode>(key: K, value: TreeNode[K] | undefined) => {
    if (value !== undefined) node[key] = value;
  };
  assign("nameRaw", bytes("name_raw"));
  assign("user", str("user"));
  assign("group", str("group"));
  assign("atime", time("atime"));
  assign("ctime", time("ctime"));
  assign("inode", int("inode"));
  assign("deviceId", int("device_id"));
  assign("links", int("links"));
  assign("size", int("size"));
  assign("linkTarget", str("linktarget"));
  assign("linkTargetRaw", bytes("linktarget_raw"));
  assign("rdev", int("rdev"));
  const subtree = str("subtree");
  if (subtree !== undefined && !isId(subtree)) throw bad("subtree is not an id");
  assign("subtree", subtree);
  if (n.content !== undefined) {
    if (!Array.isArray(n.content) || !n.content.every((c) => typeof c === "string" && isId(c))) throw bad("content is not a list of ids");
    node.content = n.content as Id[];
  }
  if (n.xattrs !== undefined) {
    if (!Array.isArray(n.xattrs)) throw bad("xattrs is not a list");
    node.xattrs = n.xattrs.map((x: unknown) => {
      const { name, value } = (x ?? {}) as { name?: unknown; value?: unknown };
      if (typeof name !== "string" || typeof value !== "string") throw bad("malformed xattr");
      return { name, value: Buffer.from(value, "base64") };
    });
  }
  if (n.damage !== undefined) node.damage = parseDamage(n.damage, bad);
  if (type === "dir" && node.subtree === undefined) throw bad(`directory ${node.name} has no subtree`);
  if (type === "file" && node.content === undefined) throw bad(`file ${node.name} has no content list`);
  return node;
}

function parseDamage(raw: unknown, bad: (what: string) => Error): NodeDamage {
  if (typeof raw !== "object" || raw === null) throw bad("damage is not an object");
  const fields = raw as Record<string, unknown>;
  const id = (key: string): Id | undefined => {
    const value = fields[key];
    if (value !== undefined && (typeof value !== "string" || !isId(value))) throw bad(`damage.${key} is not an id`);
    return value as Id | undefined;
  };
  const size = fields.original_size;
  if (size !== undefined && (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)) throw bad("damage.original_size is not a size");
  const damage: NodeDamage = {};
  if (size !== undefined) damage.originalSize = size as number;
  const missingBlob = id("missing_blob");
  if (missingBlob !== undefined) damage.missingBlob = missingBlob;
  const originalSubtree = id("original_subtree");
  if (originalSubtree !== undefined) damage.originalSubtree = originalSubtree;
  return damage;
}

import { IntegrityError } from "../../errors.js";
import { isId, type Id } from "../id.js";
import { isValidTime } from "./time.js";
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

type Fields = Record<string, unknown>;
type Bad = (what: string) => Error;

// Module-level readers rather than closures per node: trees are parsed by the thousand.
function optionalString(n: Fields, key: string, bad: Bad): string | undefined {
  const v = n[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw bad(`node field ${key} is not a string`);
  return v;
}

function requiredString(n: Fields, key: string, bad: Bad): string {
  const v = n[key];
  if (typeof v !== "string") throw bad(`node field ${key} is not a string`);
  return v;
}

function requiredInteger(n: Fields, key: string, bad: Bad): number {
  const v = n[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(`node field ${key} is not a non-negative integer`);
  return v;
}

function optionalInteger(n: Fields, key: string, bad: Bad): number | undefined {
  return n[key] === undefined ? undefined : requiredInteger(n, key, bad);
}

function optionalTime(n: Fields, key: string, bad: Bad): string | undefined {
  const v = optionalString(n, key, bad);
  if (v !== undefined && !isValidTime(v)) throw bad(`node field ${key} is not a valid time`);
  return v;
}

function optionalBytes(n: Fields, key: string, bad: Bad): Buffer | undefined {
  const v = optionalString(n, key, bad);
  return v === undefined ? undefined : Buffer.from(v, "base64");
}

function parseNode(raw: unknown, bad: Bad): TreeNode {
  if (typeof raw !== "object" || raw === null) throw bad("node is not an object");
  const n = raw as Fields;
  const type = requiredString(n, "type", bad) as NodeType;
  if (!NODE_TYPES.includes(type)) throw bad(`unknown node type ${JSON.stringify(type)}`);
  const mtime = requiredString(n, "mtime", bad);
  if (!isValidTime(mtime)) throw bad("node field mtime is not a valid time");
  const node: TreeNode = {
    name: requiredString(n, "name", bad),
    type,
    mode: requiredInteger(n, "mode", bad),
    uid: requiredInteger(n, "uid", bad),
    gid: requiredInteger(n, "gid", bad),
    mtime,
  };
  const nameRaw = optionalBytes(n, "name_raw", bad);
  if (nameRaw !== undefined) node.nameRaw = nameRaw;
  const user = optionalString(n, "user", bad);
  if (user !== undefined) node.user = user;
  const group = optionalString(n, "group", bad);
  if (group !== undefined) node.group = group;
  const atime = optionalTime(n, "atime", bad);
  if (atime !== undefined) node.atime = atime;
  const ctime = optionalTime(n, "ctime", bad);
  if (ctime !== undefined) node.ctime = ctime;
  const inode = optionalInteger(n, "inode", bad);
  if (inode !== undefined) node.inode = inode;
  const deviceId = optionalInteger(n, "device_id", bad);
  if (deviceId !== undefined) node.deviceId = deviceId;
  const links = optionalInteger(n, "links", bad);
  if (links !== undefined) node.links = links;
  const size = optionalInteger(n, "size", bad);
  if (size !== undefined) node.size = size;
  const linkTarget = optionalString(n, "linktarget", bad);
  if (linkTarget !== undefined) node.linkTarget = linkTarget;
  const linkTargetRaw = optionalBytes(n, "linktarget_raw", bad);
  if (linkTargetRaw !== undefined) node.linkTargetRaw = linkTargetRaw;
  const rdev = optionalInteger(n, "rdev", bad);
  if (rdev !== undefined) node.rdev = rdev;
  const subtree = optionalString(n, "subtree", bad);
  if (subtree !== undefined) {
    if (!isId(subtree)) throw bad("subtree is not an id");
    node.subtree = subtree;
  }
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

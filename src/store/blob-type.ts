/** Data blobs hold file content; tree blobs hold one directory listing each. */
export type BlobType = "data" | "tree";

export const BLOB_TYPES: readonly BlobType[] = ["data", "tree"];

export function blobTypeCode(type: BlobType): number {
  return type === "data" ? 0 : 1;
}

export function blobTypeFromCode(code: number): BlobType | undefined {
  return code === 0 ? "data" : code === 1 ? "tree" : undefined;
}

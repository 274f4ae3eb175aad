/**
 * For reading many blobs of a pack in turn (restore, copy): blobs closer than this are read in
 * one request with the bytes between them.
 */
export const BULK_READ_GAP = 1024 * 1024;
/** Larger reads save no time worth having and hold more memory (one buffer per read in flight). */
export const BULK_READ_MAX = 4 * 1024 * 1024;

/** Where a blob's stored bytes are in its pack. */
export interface StoredPlace {
  offset: number;
  storedLength: number;
}

export interface ReadRange<T> {
  offset: number;
  length: number;
  /** In pack order. */
  items: T[];
}

/**
 * Groups blobs of one pack into byte ranges worth reading in one request: blobs closer than
 * `gap` are read together with the bytes between them, as long as the range stays within
 * `maxLength` (a single larger blob is a range of its own).
 */
export function readRanges<T>(items: readonly T[], place: (item: T) => StoredPlace, gap: number, maxLength: number): ReadRange<T>[] {
  const sorted = [...items].sort((a, b) => place(a).offset - place(b).offset);
  const ranges: ReadRange<T>[] = [];
  for (const item of sorted) {
    const { offset, storedLength } = place(item);
    const last = ranges[ranges.length - 1];
    const end = offset + storedLength;
    if (last && offset - (last.offset + last.length) <= gap && end - last.offset <= maxLength) {
      last.length = Math.max(last.length, end - last.offset);
      last.items.push(item);
    } else {
      ranges.push({ offset, length: storedLength, items: [item] });
    }
  }
  return ranges;
}

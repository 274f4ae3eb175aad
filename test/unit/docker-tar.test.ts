import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile, mkdir, symlink, link } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readTar, isUnsupported } from "../../src/tar/tar-reader.js";
import { encodeTarHeader, TAR_END, type TarWriteHeader } from "../../src/tar/tar-writer.js";
import { makeDev, paddingFor, splitDev, type TarHeader } from "../../src/tar/tar-header.js";

async function* splitInto(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(data: Buffer, chunk = 4096): Promise<{ header: TarHeader; data: Buffer }[]> {
  const out: { header: TarHeader; data: Buffer }[] = [];
  for await (const entry of readTar(splitInto(data, chunk))) {
    if (isUnsupported(entry)) throw new Error(entry.unsupported);
    const parts: Buffer[] = [];
    for await (const part of entry.body) parts.push(part);
    out.push({ header: entry.header, data: Buffer.concat(parts) });
  }
  return out;
}

function archive(entries: { header: TarWriteHeader; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeTarHeader(e.header));
    if (e.data) parts.push(e.data, Buffer.alloc(paddingFor(e.data.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

describe("tar codec", () => {
  it("reads what GNU tar writes: long names, links, devices, binary xattrs", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-tar-"));
    try {
      const long = "d".repeat(120) + "/" + "f".repeat(110);
      await mkdir(join(dir, "root", "d".repeat(120)), { recursive: true });
      await writeFile(join(dir, "root", long), "long\n");
      await writeFile(join(dir, "root", "cap"), "x");
      await symlink("cap", join(dir, "root", "sl"));
      await link(join(dir, "root", "cap"), join(dir, "root", "hl"));
      execFileSync("mknod", [join(dir, "root", "null"), "c", "1", "3"]);
      const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00]);
      const tarFile = join(dir, "a.tar");
      execFileSync("tar", ["-C", join(dir, "root"), "--format=pax", "--numeric-owner", "-cf", tarFile, "."]);
      const entries = await readAll(execFileSync("cat", [tarFile]), 1000);
      const byName = new Map(entries.map((e) => [e.header.path.toString().replace(/^\.\//, "").replace(/\/$/, ""), e]));
      expect(byName.get(long)?.data.toString()).toBe("long\n");
      expect(byName.get("sl")?.header.type).toBe("symlink");
      expect(byName.get("sl")?.header.linkTarget.toString()).toBe("cap");
      expect(byName.get("hl")?.header.type === "hardlink" || byName.get("cap")?.header.type === "hardlink").toBe(true);
      expect(byName.get("null")?.header).toMatchObject({ type: "chardev", devMajor: 1, devMinor: 3 });

      // And GNU tar reads what we write, binary xattr values intact.
      const ours = archive([
        { header: { path: Buffer.from("cap"), type: "file", mode: 0o4755, uid: 0, gid: 0, mtimeNs: 1_700_000_000_123_456_789n, size: 1, xattrs: [{ name: "security.capability", value: cap }] }, data: Buffer.from("x") },
        { header: { path: Buffer.from(long), type: "file", mode: 0o644, uid: 5_000_000, gid: 7, mtimeNs: 0n, size: 5 }, data: Buffer.from("long\n") },
      ]);
      await writeFile(tarFile, ours);
      const listing = execFileSync("tar", ["--numeric-owner", "-tvf", tarFile]).toString();
      expect(listing).toContain("-rwsr-xr-x 0/0");
      expect(listing).toContain(`5000000/7`);
      expect(listing).toContain(long);
      const again = await readAll(ours, 7);
      expect(again[0]!.header.xattrs).toEqual([{ name: "security.capability", value: cap }]);
      expect(again[0]!.header.mtimeNs).toBe(1_700_000_000_123_456_789n);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("round-trips any header through write and read", async () => {
    const name = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes.map((b) => (b === 0 || b === 0x2f ? 0x61 : b))));
    const header = fc.record({
      path: fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from("/"), p])))),
      type: fc.constantFrom("file", "symlink", "hardlink", "dir", "fifo", "chardev", "blockdev" as const),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      gid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      uname: fc.string({ maxLength: 40 }).filter((s) => !s.includes("\0")),
      mtimeNs: fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n }),
      linkTarget: name,
      devMajor: fc.integer({ min: 0, max: 4095 }),
      devMinor: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 1500 }),
      xattr: fc.option(fc.uint8Array({ maxLength: 64 })),
    });
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const isFile = h.type === "file";
        const written: TarWriteHeader = {
          path: h.path,
          type: h.type as TarWriteHeader["type"],
          mode: h.mode,
          uid: h.uid,
          gid: h.gid,
          uname: h.uname,
          mtimeNs: h.mtimeNs,
          linkTarget: h.type === "symlink" || h.type === "hardlink" ? h.linkTarget : Buffer.alloc(0),
          devMajor: h.devMajor,
          devMinor: h.devMinor,
          size: isFile ? h.data.length : 0,
          xattrs: h.xattr ? [{ name: "user.x", value: Buffer.from(h.xattr) }] : [],
        };
        const [read] = await readAll(archive([{ header: written, ...(isFile ? { data: Buffer.from(h.data) } : {}) }]), 513);
        const expectedPath = h.type === "dir" ? Buffer.concat([h.path, Buffer.from("/")]) : h.path;
        expect(read!.header.path.equals(expectedPath)).toBe(true);
        expect(read!.header).toMatchObject({ type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, mtimeNs: h.mtimeNs, devMajor: h.devMajor, devMinor: h.devMinor });
        expect(read!.header.linkTarget.equals(written.linkTarget!)).toBe(true);
        expect(read!.header.xattrs).toEqual(written.xattrs);
        if (isFile) expect(read!.data.equals(Buffer.from(h.data))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("encodes device numbers the way Linux stat reports them", () => {
    for (const [major, minor] of [[1, 3], [8, 1], [259, 70000], [4095, 255], [5000, 1 << 19]] as const) {
      expect(splitDev(makeDev(major, minor))).toEqual({ major, minor });
    }
    expect(makeDev(1, 3)).toBe(0x103);
  });

  it("rejects data that is not a tar archive", async () => {
    await expect(readAll(Buffer.alloc(512, 0x41))).rejects.toThrow(/checksum/);
    const truncated = archive([{ header: { path: Buffer.from("f"), type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, size: 2000 }, data: Buffer.alloc(2000) }]).subarray(0, 1000);
    await expect(readAll(truncated)).rejects.toThrow(/ends in the middle/);
  });
});

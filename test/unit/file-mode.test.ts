import { expect, it } from "vitest";
import { modeString } from "../../src/cli/file-mode.js";

it.each([
  ["file", 0o644, "-rw-r--r--"],
  ["file", 0o4755, "-rwsr-xr-x"],
  ["file", 0o4644, "-rwSr--r--"],
  ["file", 0o2711, "-rwx--s--x"],
  ["file", 0o2600, "-rw---S---"],
  ["dir", 0o1777, "drwxrwxrwt"],
  ["dir", 0o1770, "drwxrwx--T"],
  ["file", 0, "----------"],
  ["symlink", 0o777, "lrwxrwxrwx"],
  ["chardev", 0o620, "crw--w----"],
] as const)("a %s with mode %o shows as %s, as ls -l shows it", (type, mode, shown) => {
  expect(modeString({ type, mode })).toBe(shown);
});

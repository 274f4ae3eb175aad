// What a user should see of a command: success without an internal error, or one line.
import { expect } from "vitest";
import type { CliResult } from "./cli.js";

export function expectOk(result: CliResult): CliResult {
  expect(result.stderr, result.stderr).not.toMatch(/internal error/);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

/** A failure as users should see it: one line, `cairn: …`, and the exit code given. */
export function expectOneLineError(result: CliResult, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.split("\n").filter((l) => l.length > 0);
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^cairn: /);
  expect(lines[0]).toMatch(message);
}

/** A usage error: one line, exit code 2. */
export function expectUsageError(result: CliResult, message: RegExp): void {
  expectOneLineError(result, 2, message);
}

// Compiles the project once before the suite, so CLI tests run the code under test.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  if (process.env.CAIRN_SKIP_BUILD === "1") return;
  const root = fileURLToPath(new URL("../..", import.meta.url));
  execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, "-p", `${root}/tsconfig.json`], { stdio: "inherit" });
}

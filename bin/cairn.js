#!/usr/bin/env node
// The CLI is bundled into one file (dist/cli/main.js, see the build script) with the pure-JS
// packages it uses: loading some 150 modules one by one cost about 100 ms at every start.
// Native packages, and the ones loaded only when needed (dockerode, chrono-node), stay outside.
import { main } from "../dist/cli/main.js";

process.exit(await main(process.argv));

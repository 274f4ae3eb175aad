#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages the tests need (apt, when root),
# npm dependencies, a build, then every vitest suite. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
npm run typecheck --silent   # the tests too: vitest runs them without type checking
CAIRN_SKIP_BUILD=1 npx vitest run "$@"

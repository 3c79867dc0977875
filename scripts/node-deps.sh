#!/usr/bin/env bash
# Installs the Node packages the client tests use (tests/node: undici, openai) from the lock file.
# Runs `npm ci` only when node_modules is missing or older than package-lock.json; quiet otherwise.
# Without node/npm, or with a Node older than the packages need, it says so and exits 0: the Node
# client tests then skip themselves with the same reason.
set -euo pipefail
cd "$(dirname "$0")/../tests/node"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node-deps: node or npm not found; the Node client tests will be skipped" >&2
  exit 0
fi
# undici 7 needs Node >= 20.18.1 (package.json "engines").
if ! node -e 'const [a,b,c]=process.versions.node.split(".").map(Number);process.exit(a>20||(a==20&&(b>18||(b==18&&c>=1)))?0:1)'; then
  echo "node-deps: Node $(node --version) is older than 20.18.1; the Node client tests will be skipped" >&2
  exit 0
fi

stamp=node_modules/.orp-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ]; then
  exit 0
fi
echo "node-deps: npm ci in tests/node"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
touch "$stamp"

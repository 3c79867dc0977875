#!/usr/bin/env bash
# Installs what is missing, builds, creates the local CA, and starts the proxy with config.ini
# and keys.csv from the repository root. Extra arguments go to `openrouter-proxy run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/openrouter-proxy --config config.ini ca init
echo "run: trust certs/ca.pem (scripts/install-ca.sh, or see docs/clients.md), then:"
echo "     export HTTPS_PROXY=http://127.0.0.1:8080"
exec ./build/openrouter-proxy run --config config.ini "$@"

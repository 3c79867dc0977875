#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and end-to-end) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300
echo "test.sh: done in $(( $(date +%s) - start ))s"

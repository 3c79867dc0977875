#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest: unit and end-to-end tests on
# the release build, then all of them again on an ASan+UBSan build (the benchmark tools' smoke
# test excepted: that build does not make them).
# SANITIZE=0 skips the sanitizer pass (quicker local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
[ -f scripts/node-deps.sh ] && bash scripts/node-deps.sh
jobs=$(nproc)

# Python tests that skip show as Passed in ctest: the harness lists them here (tests/support/harness.py).
skipped() {
  local list="$1/artifacts/skipped.txt"
  if [ -s "$list" ]; then
    echo "-- $(wc -l <"$list") tests skipped in $1 (ctest counts their files as passed):"
    sed 's/^/   /' "$list"
  fi
}

echo "== release build: unit and end-to-end tests"
rm -f build/artifacts/skipped.txt
ctest --test-dir build --output-on-failure --no-tests=error -j"$jobs" --timeout 300
skipped build

if [ "${SANITIZE:-1}" != "0" ]; then
  echo "== ASan+UBSan build: unit and end-to-end tests"
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  [ -f build-asan/CMakeCache.txt ] || cmake -S . -B build-asan "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug -DORP_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target openrouter-proxy unit_tests
  # halt_on_error: a sanitizer report fails the test instead of scrolling past.
  rm -f build-asan/artifacts/skipped.txt
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --no-tests=error -j"$jobs" --timeout 600 -E '^e2e\.test_bench_tools$'
  skipped build-asan
fi
echo "test.sh: done in $(( $(date +%s) - start ))s"

#!/usr/bin/env bash
# Installs the Debian packages the build and tests need (only those missing), then builds.
# Idempotent and quiet when nothing is missing.
# Usage: scripts/setup.sh [--runtime] [--no-build] [--build-dir DIR] [--build-type TYPE]
#   --runtime  only what building and running the proxy needs, and only the proxy is built
#              (scripts/run.sh); without it, the tests' and benchmarks' packages and targets too
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running the proxy needs ...
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libspdlog-dev libcli11-dev node-llhttp libhiredis-dev libmimalloc-dev
  openssl ca-certificates
)
# ... and what the tests and benchmarks add (not for --runtime, scripts/run.sh's set-up).
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev redis-server
  curl python3 python3-requests python3-httpx chromium fonts-dejavu-core util-linux
)

build=1
build_dir=build
build_type=Release
runtime=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --runtime) runtime=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --build-type) build_type=$2; shift ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$runtime" -eq 0 ]; then
  PACKAGES+=("${TEST_PACKAGES[@]}")
  # Node may come from another source (its npm bundled): only ask apt when the command is missing.
  command -v node >/dev/null || PACKAGES+=(nodejs)
  command -v npm >/dev/null || PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} packages with apt-get (a few minutes on a fresh machine): ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# redis-server's package starts a system instance; tests run their own on a free port.
if [ "$build" -eq 1 ]; then
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S . -B "$build_dir" "${gen[@]}" -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
  elif [ "$runtime" -eq 0 ] && ! grep -q '^GTest_DIR:PATH=/' "$build_dir/CMakeCache.txt"; then
    # Configured by a --runtime set-up, before GoogleTest was installed: look for it again.
    cmake -S . -B "$build_dir" -U 'GTest*' -U 'GTEST*' >/dev/null
  fi
  if [ "$runtime" -eq 1 ]; then
    echo "setup: building openrouter-proxy in $build_dir"
    cmake --build "$build_dir" -j"$(nproc)" --target openrouter-proxy
  else
    cmake --build "$build_dir" -j"$(nproc)"
  fi
fi

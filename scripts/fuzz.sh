#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (AddressSanitizer + UndefinedBehaviorSanitizer)
# into build-fuzz/ and runs each for SECONDS_PER_TARGET seconds over its seed corpus.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET=30] [TARGET...]
# New inputs go to build-fuzz/corpus/<target>/ (fuzz/corpus/ stays small); crashes are written to
# build-fuzz/crash-<target>-*. Exit status 1 when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_request upstream_response stored_state client_auth socks5 sni keys_csv config)

# libFuzzer ships in the compiler-rt package of the same version as Debian's default clang.
if ! command -v clang++ >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
clang_major=$(clang++ -dumpversion | cut -d. -f1)
if [ ! -f "$(clang++ -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" ] &&
   ! dpkg-query -W -f='${Status}' "libclang-rt-${clang_major}-dev" 2>/dev/null | grep -q 'install ok installed'; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "libclang-rt-${clang_major}-dev" >/dev/null
fi

out=build-fuzz
mkdir -p "$out/obj"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)

# The sources each target needs beyond its own file.
sources_for() {
  case "$1" in
    http_request) echo "src/http/parser.cpp src/http/headers.cpp" ;;
    upstream_response) echo "src/http/parser.cpp src/http/headers.cpp src/keys/classify.cpp src/keys/sse.cpp src/keys/api_key.cpp src/keys/key_masker.cpp src/forward/usage.cpp src/forward/responses.cpp src/util/utf8.cpp" ;;
    stored_state) echo "src/keys/key_pool.cpp src/keys/key_pool_reload.cpp src/keys/key_masker.cpp src/keys/state_file.cpp src/keys/api_key.cpp src/keys/backoff.cpp src/keys/classify.cpp src/keys/keys_csv.cpp src/state/fleet_record.cpp src/state/fleet_view.cpp src/util/atomic_file.cpp src/util/read_file.cpp src/util/utf8.cpp" ;;
    client_auth) echo "src/proxy/proxy_auth.cpp src/upstream/target.cpp src/config/settings.cpp src/config/settings_table.cpp src/util/read_file.cpp" ;;
    socks5) echo "src/proxy/socks5.cpp" ;;
    sni) echo "src/proxy/sni.cpp" ;;
    keys_csv) echo "src/keys/keys_csv.cpp src/keys/api_key.cpp src/util/read_file.cpp src/util/utf8.cpp" ;;
    config) echo "src/config/settings.cpp src/config/settings_table.cpp src/util/read_file.cpp" ;;
    *) echo "fuzz.sh: unknown target $1" >&2; exit 2 ;;
  esac
}
libs_for() {
  case "$1" in
    keys_csv) echo "-lcrypto" ;;
    upstream_response | stored_state) echo "-lboost_json -lcrypto" ;;
    config) echo "-lboost_url" ;;
    client_auth) echo "-lcrypto -lboost_url" ;;
    *) echo "" ;;
  esac
}

# llhttp's generated C, in strict mode as in the main build; instrumented for coverage only.
llhttp_objects=()
for c in /usr/share/llhttp/*.c; do
  obj="$out/obj/llhttp_$(basename "$c" .c).o"
  if [ ! -f "$obj" ] || [ "$c" -nt "$obj" ]; then
    clang -g -O1 -fsanitize=fuzzer-no-link,address,undefined -DLLHTTP_STRICT_MODE=1 \
      -I/usr/share/include/llhttp -c "$c" -o "$obj"
  fi
  llhttp_objects+=("$obj")
done

status=0
for target in "${targets[@]}"; do
  binary="$out/${target}_fuzz"
  echo "fuzz: building $target"
  extra=()
  case "$target" in http_request | upstream_response) extra=(-I/usr/share/include/llhttp "${llhttp_objects[@]}") ;; esac
  # shellcheck disable=SC2046
  clang++ "${flags[@]}" "fuzz/${target}_fuzz.cpp" $(sources_for "$target") "${extra[@]}" \
    $(libs_for "$target") -o "$binary"
  mkdir -p "$out/corpus/$target"
  echo "fuzz: running $target for ${seconds}s"
  if ! "$binary" "$out/corpus/$target" "fuzz/corpus/$target" -max_total_time="$seconds" -max_len=8192 \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crash-$target-" \
      >"$out/$target.log" 2>&1; then
    echo "fuzz: $target FAILED, see $out/$target.log and $out/crash-$target-*" >&2
    status=1
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/$target.log" | sed "s/^/fuzz: $target /" || true
done
exit $status

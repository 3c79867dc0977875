#!/usr/bin/env bash
# The end-to-end benchmark of issue 7: no proxy vs openrouter-proxy (vs mitmproxy where Debian has
# it), side by side in one run, on loopback only. Prints a table and writes
# bench/results/<timestamp>.{txt,jsonl,png}.
#
# Usage: scripts/bench.sh [--quick] [--no-build] [--no-mitmproxy] [--micro] [--callgrind] [--perf] [--keep]
#   --quick          about a minute (fewer requests and connections); the full run takes a few minutes
#   --no-build       use the binaries already in $ORP_BUILD_DIR (default build/)
#   --no-mitmproxy   skip the mitmproxy row
#   --micro          only build and run the Google Benchmark micro-benchmarks (bench/micro_bench.cpp)
#   --callgrind      only profile (CG_MODE=connect: new TLS connections instead of keep-alive
#                    requests; CG_RESUME=1 with it: resumed ones): the proxy under valgrind's
#                    callgrind while 8 keep-alive connections send requests; writes
#                    bench/results/<timestamp>-callgrind.txt (top functions)
#   --perf           only profile with `perf record -e cpu-clock` (user and kernel time, so system
#                    calls show up, which callgrind does not count): same load as --callgrind
#                    (CG_MODE=connect as well) without valgrind's slow-down; writes
#                    bench/results/<timestamp>-perf.txt
#   --heaptrack      only profile memory: the proxy under heaptrack while it holds 1,000 open SSE
#                    streams (what each stream costs, by allocation site); writes
#                    bench/results/<timestamp>-heaptrack.txt
#   --compare BIN    only an A/B of this build's proxy against another binary BIN (an older build,
#                    say): keep-alive at 32 and 1 connections and new TLS connections (full and
#                    resumed), the two taking turns over several rounds on one nginx upstream, same
#                    pinning; prints medians and ranges side by side and writes
#                    bench/results/<timestamp>-compare.txt. The way to show a change is faster here,
#                    where runs minutes apart differ by 10-30 %.
#   --keep           keep the work directory (configs, logs) under /tmp
# BENCH_PROXY_PRELOAD=LIB runs the proxy with LD_PRELOAD=LIB (e.g. another malloc, to compare).
#
# Layout (2+ CPUs): the proxy pinned to CPU 0 (workers = 1); nginx, the SSE server and the load
# generator pinned to CPU 1; then a workers = 2 throughput run with the proxy unpinned. Proxy CPU
# time comes from /proc/PID/stat and RSS from /proc/PID/status, read by bench/loadgen around each
# measured phase (--watch-pid). Every process started here is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0 BUILD=1 MITM=1 MICRO=0 CALLGRIND=0 PERF=0 HEAPTRACK=0 KEEP=0 COMPARE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --no-mitmproxy) MITM=0 ;;
    --micro) MICRO=1 ;;
    --callgrind) CALLGRIND=1 ;;
    --perf) PERF=1 ;;
    --heaptrack) HEAPTRACK=1 ;;
    --keep) KEEP=1 ;;
    --compare)
      [ $# -ge 2 ] || { echo "bench.sh: --compare needs a proxy binary" >&2; exit 2; }
      COMPARE=$(realpath "$2") && [ -x "$COMPARE" ] || { echo "bench.sh: --compare: $2 is not an executable" >&2; exit 2; }
      shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BUILD_DIR=${ORP_BUILD_DIR:-build}
BIN_DIR=$BUILD_DIR/bench
PROXY_BIN=$ROOT/$BUILD_DIR/openrouter-proxy
CXX=${CXX:-g++}
PY=/usr/bin/python3
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- packages -----------------------------------------------------------------------------------
MITM_NOTE=""
ensure_packages() {
  local need=()
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v gnuplot >/dev/null || need+=(gnuplot-nox)
  command -v taskset >/dev/null || need+=(util-linux)
  if [ "$MITM" -eq 1 ] && ! command -v mitmdump >/dev/null; then
    if apt-cache policy mitmproxy 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      need+=(mitmproxy)
    else
      MITM_NOTE="mitmproxy: not installable from Debian's archive on this machine (no candidate), row skipped"
    fi
  fi
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if [ "$MITM" -eq 1 ] && [ -z "$MITM_NOTE" ] && ! command -v mitmdump >/dev/null; then
    MITM_NOTE="mitmproxy: install failed, row skipped"
  fi
  [ "$MITM" -eq 0 ] && MITM_NOTE="mitmproxy: skipped (--no-mitmproxy)"
  return 0
}

# ---- build --------------------------------------------------------------------------------------
build_tool() {  # out src extra-flags...: rebuilt only when the source is newer
  local out=$1 src=$2
  shift 2
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    log "compiling $src"
    $CXX -std=c++20 -O2 -Wall -Wextra -Wno-mismatched-new-delete -o "$out" "$src" "$@"
  fi
}

# The build directory builds bench/ itself (ORP_BENCH=ON, the default): use its targets.
cmake_has_bench() { grep -q '^ORP_BENCH:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; }

build_micro() {
  if cmake_has_bench && grep -q 'benchmark_DIR:PATH=/' "$BUILD_DIR/CMakeCache.txt"; then
    cmake --build "$BUILD_DIR" --target orp_micro_bench >/dev/null
    return
  fi
  cmake --build "$BUILD_DIR" --target orp_core llhttp >/dev/null
  local out=$BIN_DIR/micro_bench
  if [ ! -x "$out" ] || [ bench/micro_bench.cpp -nt "$out" ] || [ "$BUILD_DIR/liborp_core.a" -nt "$out" ]; then
    log "compiling bench/micro_bench.cpp"
    $CXX -std=c++20 -O2 -DNDEBUG -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_ASIO_NO_DEPRECATED \
      -DBOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=8 -I"$ROOT/src" \
      -o "$out" bench/micro_bench.cpp "$BUILD_DIR/liborp_core.a" "$BUILD_DIR/libllhttp.a" \
      -lbenchmark -lssl -lcrypto -lboost_json -lboost_url -lspdlog -lfmt -lhiredis -lpthread
  fi
}

build_all() {
  mkdir -p "$BIN_DIR"
  if [ "$BUILD" -eq 1 ]; then
    bash scripts/setup.sh --no-build
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
      local gen=()
      command -v ninja >/dev/null && gen=(-G Ninja)
      cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
    grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD_DIR/CMakeCache.txt" ||
      log "warning: $BUILD_DIR is not a Release build"
    log "building the proxy (Release)"
    cmake --build "$BUILD_DIR" --target openrouter-proxy >/dev/null
  fi
  if [ "$BUILD" -eq 1 ] && cmake_has_bench; then
    cmake --build "$BUILD_DIR" --target orp_loadgen orp_sse_server >/dev/null
  else
    build_tool "$BIN_DIR/loadgen" bench/loadgen.cpp -lssl -lcrypto -lpthread &
    local a=$!
    build_tool "$BIN_DIR/sse_server" bench/sse_server.cpp -lssl -lcrypto -lpthread &
    local b=$!
    wait $a
    wait $b
  fi
  [ -x "$PROXY_BIN" ] || { echo "bench.sh: no proxy binary at $PROXY_BIN" >&2; exit 2; }
  # A private copy: a rebuild of the tree during the run must not change the binary between rows.
  cp "$PROXY_BIN" "$WORK/openrouter-proxy"
  PROXY_BUILT=$(date -r "$PROXY_BIN" '+%Y-%m-%d %H:%M:%S')
  PROXY_BIN=$WORK/openrouter-proxy
}

if [ "$MICRO" -eq 1 ]; then
  mkdir -p "$BIN_DIR"
  [ "$BUILD" -eq 1 ] && bash scripts/setup.sh --no-build
  build_micro
  min_time=0.5
  [ "$QUICK" -eq 1 ] && min_time=0.1
  exec "$BIN_DIR/micro_bench" --benchmark_min_time="$min_time"
fi

# ---- sizes --------------------------------------------------------------------------------------
if [ "$QUICK" -eq 1 ]; then
  ROUNDS=1 RPS32_REQ=400 RPS1_REQ=1000 CONNECT_N=300 IDLE_K=300 STREAMS_K=300 SSE_REQ=10 RPS_LIMIT=15
  MITM_RPS32_REQ=20 MITM_RPS1_REQ=200 MITM_CONNECT_N=50 MITM_IDLE_K=100
else
  ROUNDS=3 RPS32_REQ=3000 RPS1_REQ=5000 CONNECT_N=2000 IDLE_K=2000 STREAMS_K=10000 SSE_REQ=50 RPS_LIMIT=30
  MITM_RPS32_REQ=100 MITM_RPS1_REQ=500 MITM_CONNECT_N=200 MITM_IDLE_K=300
fi
SSE_EVENTS=20 SSE_INTERVAL_MS=10 STREAM_INTERVAL_MS=2000 R429_REQ=24
[ "$QUICK" -eq 1 ] && R429_REQ=12

# ---- processes ----------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/orp-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
STARTED=()
stop_pid() {  # PID [seconds]: SIGTERM, up to 5 s (or the given time), then SIGKILL
  local pid=$1 tenths=$((${2:-5} * 10)) i
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  for i in $(seq "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  if [ "$KEEP" -eq 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PROXY_WRAP=()
[ -n "${BENCH_PROXY_PRELOAD:-}" ] && PROXY_WRAP=(env LD_PRELOAD="$BENCH_PROXY_PRELOAD")
READY_TENTHS=150
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
  PIN_PROXY=(taskset -c 0)
  PIN_LOAD=(taskset -c 1)
  PIN_NOTE="proxy pinned to CPU 0; load generator, nginx and the SSE server pinned to CPU 1"
else
  PIN_PROXY=() PIN_LOAD=()
  PIN_NOTE="one CPU: nothing pinned"
fi

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {  # port seconds
  local i
  for i in $(seq $(($2 * 10))); do
    $PY -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

make_pki() {  # a test CA and an EC P-256 leaf for openrouter.ai (as tests/support/harness.py does)
  local d=$WORK/pki
  mkdir -p "$d"
  cat >"$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:openrouter.ai, DNS:localhost, IP:127.0.0.1
EOF
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  (
    cd "$d"
    export OPENSSL_CONF=/dev/null
    openssl req -config openssl.cnf -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=openrouter-proxy bench CA" -extensions v3_ca -sha256 2>/dev/null
    openssl req -config openssl.cnf -new "${ec[@]}" -keyout server.key -out server.csr -subj /CN=openrouter.ai 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" -days 2 \
      -sha256 -extfile openssl.cnf -extensions server -out server.pem 2>/dev/null
  )
}

start_nginx() {
  NGINX_PORT=$(free_port)
  local d=$WORK/nginx
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
# One worker, no master (its PID is the one we stop), keep-alive without limits, no access log.
worker_processes 1;
master_process off;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  keepalive_requests 100000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/pki/server.pem;
    ssl_certificate_key $WORK/pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    # return answers any method, POST included, and discards the request body.
    location = /api/v1/chat/completions {
      default_type application/json;
      return 200 '{"id":"gen-bench-1","object":"chat.completion","created":1700000000,"model":"openai/gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}}';
    }
    location = /api/v1/key {
      default_type application/json;
      return 200 '{"data":{"label":"bench","limit":null,"limit_remaining":null,"usage":0,"is_free_tier":false}}';
    }
    location / { return 404; }
  }
}
EOF
  "${PIN_LOAD[@]}" nginx -c "$d/nginx.conf" -p "$d/" >"$d/out.log" 2>&1 &
  NGINX_PID=$!
  STARTED+=("$NGINX_PID")
  wait_port "$NGINX_PORT" 10 || { cat "$d/out.log" "$d/error.log" >&2; exit 1; }
}

start_sse_server() {
  "${PIN_LOAD[@]}" "$BIN_DIR/sse_server" --cert "$WORK/pki/server.pem" --key "$WORK/pki/server.key" \
    --time-limit 1200 >"$WORK/sse.out" 2>"$WORK/sse.err" &
  SSE_PID=$!
  STARTED+=("$SSE_PID")
  local i
  for i in $(seq 50); do
    [ -s "$WORK/sse.out" ] && break
    sleep 0.1
  done
  SSE_PORT=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/sse.out")
}

# start_proxy NAME WORKERS UPSTREAM_PORT PIN(0|1) [KEYS]: sets PROXY_PID, PROXY_ADDR, PROXY_CA
start_proxy() {
  local name=$1 workers=$2 upstream=$3 pin=$4 keys=${5:-sk-or-v1-bench-pool-a sk-or-v1-bench-pool-b} d=$WORK/$1 k
  mkdir -p "$d"
  rm -f "$d/ready.json"  # a name started again (the rounds) must not read the last run's address
  cat >"$d/config.ini" <<EOF
; written by scripts/bench.sh
[proxy]
listen = 127.0.0.1:0
intercept_hosts = openrouter.ai
workers = $workers
max_connections = 30000
idle_timeout = 300
[upstream]
api_url = https://openrouter.ai/api/v1
ca_file = $WORK/pki/ca.pem
resolve = openrouter.ai:443=127.0.0.1:$upstream
[keys]
file = keys.csv
state_file = data/key_state.json
[tls]
ca_cert = certs/ca.pem
ca_key = certs/ca.key
[log]
file = proxy.log
[admin]
listen =
EOF
  {
    echo "key,label,weight"
    for k in $keys; do echo "$k,${k#sk-or-v1-bench-},"; done
  } >"$d/keys.csv"
  local pin_cmd=()
  [ "$pin" -eq 1 ] && pin_cmd=("${PIN_PROXY[@]}")
  (cd "$d" && exec "${pin_cmd[@]}" "${PROXY_WRAP[@]}" "$PROXY_BIN" run --config config.ini --ready-file ready.json \
    >stdout.txt 2>stderr.txt) &
  PROXY_PID=$!
  STARTED+=("$PROXY_PID")
  local i
  for i in $(seq "$READY_TENTHS"); do
    [ -s "$d/ready.json" ] && break
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  PROXY_ADDR=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["proxy"])' "$d/ready.json" 2>/dev/null) || {
    echo "bench.sh: proxy $name did not start" >&2
    tail -20 "$d/stderr.txt" >&2
    exit 1
  }
  PROXY_CA=$d/certs/ca.pem
  # Under a wrapper that does not exec (heaptrack), the proxy is a child with a PID of its own:
  # ready.json names it, and the cleanup stops it too.
  PROXY_REAL_PID=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$d/ready.json")
  [ "$PROXY_REAL_PID" != "$PROXY_PID" ] && STARTED+=("$PROXY_REAL_PID")
  true
}

stop_proxy() { stop_pid "$PROXY_PID"; }

# loadgen LABEL args...: one bounded run, its JSON line appended to the results
loadgen() {
  local label=$1
  shift
  local line
  local pin=("${PIN_LOAD[@]}")
  [ "${UNPINNED:-0}" -eq 1 ] && pin=()
  line=$(timeout 300 "${pin[@]}" "$BIN_DIR/loadgen" --label "$label" "$@" 2>>"$WORK/loadgen.err") || true
  if [ -z "$line" ]; then
    line="{\"label\": \"$label\", \"errors\": 1, \"first_error\": \"loadgen produced nothing\", \"finished\": false}"
  fi
  echo "$line" >>"$RESULTS"
  log "$label: $(echo "$line" | $PY -c 'import json,sys
r = json.loads(sys.stdin.read())
keys = ("rps", "lat_p50_ms", "lat_p99_ms", "proc_cpu_s_per_1k_req", "rss_kib_per_conn", "rss_kib_per_stream",
        "streams", "proc_cpu_ms_per_conn", "resumed", "first_p99_ms", "gap_p99_ms", "errors", "first_error")
print(", ".join("%s=%s" % (k, r[k]) for k in keys if r.get(k) not in (None, "")))')"
}

# connect_row LABEL N [--resume]: N new TLS connections through the proxy in VIA (4 at a time,
# one request each), full handshakes or resuming the previous connection's session.
connect_row() {
  local label=$1 n=$2
  shift 2
  loadgen "$label" --mode connect "${VIA[@]}" --conns 4 --requests "$n" --time-limit "$RPS_LIMIT" "$@"
}

# ---- profiles (--callgrind, --perf, --heaptrack): one tool, one load, a text report -------------
# profile_prologue TOOL DEBIAN-PACKAGE: the tool (installed when missing), the binaries and the PKI.
profile_prologue() {
  command -v "$1" >/dev/null || apt-get install -y -qq "$2" >/dev/null ||
    { echo "bench.sh: this profile needs $1 (Debian: $2)" >&2; exit 2; }
  MITM=0 ensure_packages
  build_all
  make_pki
  STAMP=$(date +%Y%m%d-%H%M%S)
  mkdir -p bench/results
}

# ---- profile: callgrind on the keep-alive request path ------------------------------------------
if [ "$CALLGRIND" -eq 1 ]; then
  profile_prologue valgrind valgrind
  start_nginx
  CG_OUT=$WORK/callgrind.out
  CG_MODE=${CG_MODE:-rps}
  PROXY_WRAP=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$CG_OUT")
  READY_TENTHS=600
  start_proxy orp_cg 1 "$NGINX_PORT" 1
  CG_VIA=(--connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA")
  CG_REQ=250
  [ "$QUICK" -eq 1 ] && CG_REQ=60
  # The instrumentation is switched on by the load generator itself, after its connections are
  # open and warmed up, so only the keep-alive request path is counted (no handshakes).
  # CG_MODE=connect profiles new intercepted TLS connections (one request each) instead.
  # In connect mode --requests is the number of new connections in all (one request each).
  CG_COUNT=$((8 * CG_REQ))
  [ "$CG_MODE" = connect ] && CG_REQ=100 CG_COUNT=100
  # CG_RESUME=1 (connect mode): each connection offers the previous one's TLS session.
  CG_RESUME_ARG=() CG_HANDSHAKES="full handshakes"
  if [ "$CG_MODE" = connect ] && [ "${CG_RESUME:-0}" = 1 ]; then CG_RESUME_ARG=(--resume) CG_HANDSHAKES="resumed handshakes"; fi
  loadgen cg_measured --mode "$CG_MODE" "${CG_VIA[@]}" "${CG_RESUME_ARG[@]}" --conns 8 --requests "$CG_REQ" --warmup 20 --time-limit 240 \
    --before-measure "callgrind_control -i on $PROXY_PID >/dev/null" \
    --after-measure "callgrind_control -i off $PROXY_PID >/dev/null"
  stop_pid "$PROXY_PID" 60
  CG_TXT=bench/results/$STAMP-callgrind.txt
  {
    if [ "$CG_MODE" = connect ]; then
      echo "callgrind (connect mode): proxy workers = 1 (Release), $CG_COUNT new connections (8 at a time) via CONNECT + TLS, nginx upstream"
    else
      echo "callgrind (rps mode): proxy workers = 1 (Release), 8 connections x $CG_REQ requests via CONNECT + TLS, nginx upstream"
    fi
    if [ "$CG_MODE" = connect ]; then
      echo "counted from after the warm-up connections: $CG_COUNT new TLS connections ($CG_HANDSHAKES), one request each, leaf cached; upstream connections the pool opens meanwhile are counted too"
    else
      echo "counted from after warm-up to the last response: the keep-alive request path only"
    fi
    $PY bench/callgrind_top.py "$CG_OUT" "$CG_COUNT" 25
  } >"$CG_TXT"
  cp "$CG_OUT" "bench/results/$STAMP-callgrind.out"
  cat "$CG_TXT"
  echo "profile: $CG_TXT (raw: bench/results/$STAMP-callgrind.out, open with callgrind_annotate or kcachegrind)"
  exit 0
fi

# ---- profile: perf (cpu-clock samples, user and kernel) -----------------------------------------
if [ "$PERF" -eq 1 ]; then
  profile_prologue perf linux-perf
  start_nginx
  PF_OUT=$WORK/perf.data
  perf_top() {  # LINES [PATTERN] -- perf-report-options...: the first LINES matching lines
    local n=$1 pat=$2
    shift 3
    perf report -i "$PF_OUT" --stdio -g none "$@" >"$WORK/perf.part" 2>/dev/null || true
    grep -v -e '^#' -e '^$' "$WORK/perf.part" | grep -E -e "$pat" | sed -n "1,${n}p" || true
  }
  PF_MODE=${CG_MODE:-rps}
  start_proxy orp_perf 1 "$NGINX_PORT" 1
  PF_REQ=4000
  [ "$PF_MODE" = connect ] && PF_REQ=500
  [ "$QUICK" -eq 1 ] && PF_REQ=$((PF_REQ / 4))
  PF_CONNS=32
  [ "$PF_MODE" = connect ] && PF_CONNS=4
  # perf attaches to the running proxy once the connections are open and warm, and is stopped
  # (SIGINT, which makes it write its file) when the last response is in.
  loadgen pf_measured --mode "$PF_MODE" --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID" \
    --conns "$PF_CONNS" --requests "$PF_REQ" --warmup 20 --time-limit 120 \
    --before-measure "perf record -q -e cpu-clock -F 4999 -g -p $PROXY_PID -o $PF_OUT >/dev/null 2>&1 & echo \$! >$WORK/perf.pid; sleep 0.5" \
    --after-measure "kill -INT \$(cat $WORK/perf.pid); while kill -0 \$(cat $WORK/perf.pid) 2>/dev/null; do sleep 0.1; done"
  stop_proxy
  PF_TXT=bench/results/$STAMP-perf.txt
  {
    echo "perf ($PF_MODE mode, cpu-clock at 4999 Hz): proxy workers = 1 (Release), pinned to CPU 0; $PF_CONNS connections x $PF_REQ requests via CONNECT + TLS, nginx upstream"
    tail -1 "$RESULTS"
    echo
    echo "== user vs kernel, by shared object (self time) =="
    perf_top 15 . -- --no-children --sort dso
    echo
    echo "== top symbols (self time) =="
    perf_top 45 . -- --no-children --sort dso,sym
    echo
    echo "== system calls (inclusive) =="
    perf_top 20 '\[k\] (__x64_sys|do_syscall_64|__sys_|sock_|tcp_sendmsg|tcp_recvmsg|do_epoll|ep_poll)' -- --children --sort sym
  } >"$PF_TXT"
  cat "$PF_TXT"
  cp "$PF_OUT" "bench/results/$STAMP-perf.data"
  echo "profile: $PF_TXT (raw: bench/results/$STAMP-perf.data, open with perf report -i)"
  exit 0
fi

# ---- profile: heaptrack over held streams --------------------------------------------------------
if [ "$HEAPTRACK" -eq 1 ]; then
  profile_prologue heaptrack heaptrack
  start_sse_server
  HT_OUT=$WORK/heaptrack
  PROXY_WRAP=(heaptrack -o "$HT_OUT")
  READY_TENTHS=300
  start_proxy orp_heap 1 "$SSE_PORT" 1
  HT_STREAMS=1000
  [ "$QUICK" -eq 1 ] && HT_STREAMS=300
  loadgen ht_streams --mode streams --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --conns "$HT_STREAMS" \
    --sse-interval-ms 2000 --hold 2 --settle 1 --time-limit 120 \
    --after-measure "true"
  # heaptrack writes its file when the proxy exits; the peak is the held streams.
  stop_pid "$PROXY_REAL_PID" 60
  stop_pid "$PROXY_PID" 60
  HT_TXT=bench/results/$STAMP-heaptrack.txt
  HT_FILE=$(ls "$HT_OUT".* 2>/dev/null | head -1)
  {
    echo "heaptrack: proxy workers = 1 (Release) holding $HT_STREAMS open SSE streams (an event every 2 s); peak heap by allocation site"
    tail -1 "$RESULTS"
    echo
    heaptrack_print -f "$HT_FILE" 2>/dev/null | grep -E '^(peak heap memory|calls to allocation)' || true
    echo
    echo "peak heap by allocation site (size | calls | where):"
    # Each peak entry is "<size> peak memory consumed over <n> calls from" and then its function.
    heaptrack_print -f "$HT_FILE" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
      --peak-limit 30 --sub-peak-limit 0 2>/dev/null | grep -A1 'peak memory consumed over' | grep -v '^--$' |
      paste - - | sed -E 's/ peak memory consumed over ([0-9]+) calls from\t/ | \1 | /' | cut -c1-160 || true
  } >"$HT_TXT"
  cat "$HT_TXT"
  echo "profile: $HT_TXT"
  exit 0
fi

# ---- A/B against another binary (--compare) ---------------------------------------------------
if [ -n "$COMPARE" ]; then
  MITM=0 ensure_packages
  build_all
  make_pki
  cp "$COMPARE" "$WORK/openrouter-proxy-other"
  THIS_BIN=$PROXY_BIN OTHER_BIN=$WORK/openrouter-proxy-other
  CMP_ROUNDS=5 CMP_RPS32=2000 CMP_RPS1=3000 CMP_CONNECT=1000
  [ "$QUICK" -eq 1 ] && CMP_ROUNDS=2 CMP_RPS32=400 CMP_RPS1=1000 CMP_CONNECT=300
  start_nginx
  log "nginx on $NGINX_PORT (pid $NGINX_PID); $PIN_NOTE; $CMP_ROUNDS rounds, this build and $COMPARE taking turns"
  for round in $(seq "$CMP_ROUNDS"); do
    for side in this other; do
      PROXY_BIN=$THIS_BIN
      [ "$side" = other ] && PROXY_BIN=$OTHER_BIN
      start_proxy "cmp_$side" 1 "$NGINX_PORT" 1
      VIA=(--connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID")
      loadgen "cmp_${side}_rps32_r$round" --mode rps "${VIA[@]}" --conns 32 --requests "$CMP_RPS32" --warmup 5 \
        --time-limit "$RPS_LIMIT"
      loadgen "cmp_${side}_rps1_r$round" --mode rps "${VIA[@]}" --conns 1 --requests "$CMP_RPS1" --warmup 50 \
        --time-limit "$RPS_LIMIT"
      connect_row "cmp_${side}_full_r$round" "$CMP_CONNECT"
      connect_row "cmp_${side}_resumed_r$round" "$CMP_CONNECT" --resume
      stop_proxy
    done
  done
  STAMP=$(date +%Y%m%d-%H%M%S)
  mkdir -p bench/results
  CMP_TXT=bench/results/$STAMP-compare.txt
  {
    echo "openrouter-proxy A/B, $(date -u '+%Y-%m-%d %H:%M:%S') UTC: scripts/bench.sh --compare $COMPARE"
    echo "this: $ROOT/$BUILD_DIR/openrouter-proxy ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', uncommitted changes'))"
    echo "other: $COMPARE"
    echo "$CMP_ROUNDS rounds, the two taking turns; $PIN_NOTE; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    $PY - "$RESULTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def values(side, kind, key):
    return [r[key] for r in rows if r["label"].startswith("cmp_%s_%s_r" % (side, kind)) and r.get(key) is not None
            and not r.get("errors")]
metrics = [("req/s, 32 conns", "rps32", "rps", True), ("CPU-s per 1k requests, 32 conns", "rps32", "proc_cpu_s_per_1k_req", False),
           ("CPU-s per 1k requests, 1 conn", "rps1", "proc_cpu_s_per_1k_req", False),
           ("p50 ms, 1 conn", "rps1", "lat_p50_ms", False),
           ("CPU ms per new connection, full", "full", "proc_cpu_ms_per_conn", False),
           ("CPU ms per new connection, resumed", "resumed", "proc_cpu_ms_per_conn", False)]
print("%-38s | %-28s | %-28s | %s" % ("metric (median, range)", "this", "other", "this / other"))
print("-" * 38 + "-+-" + "-" * 28 + "-+-" + "-" * 28 + "-+-------------")
def num(x):
    return "{:,.0f}".format(x) if abs(x) >= 1000 else "%.4g" % x
def cell(v):
    return "%s (%s-%s)" % (num(statistics.median(v)), num(min(v)), num(max(v))) if v else "n/a"
for name, kind, key, higher_better in metrics:
    a, b = values("this", kind, key), values("other", kind, key)
    ratio = "%.3f" % (statistics.median(a) / statistics.median(b)) if a and b and statistics.median(b) else "n/a"
    print("%-38s | %-28s | %-28s | %s%s" % (name, cell(a), cell(b), ratio, "  (higher is better)" if higher_better else ""))
errors = [r["label"] for r in rows if r.get("errors")]
if errors:
    print("\nrounds with errors (left out): " + ", ".join(errors))
PYEOF
  } | tee "$CMP_TXT"
  echo "results: $CMP_TXT"
  exit 0
fi

# ---- the run ------------------------------------------------------------------------------------
ensure_packages
build_all
make_pki
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# As many open files as the hard limit allows: each held stream costs the proxy two descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
MAX_STREAMS=$(((NOFILE - 200) / 2))
STREAMS_NOTE=""
if [ "$STREAMS_K" -gt "$MAX_STREAMS" ]; then
  STREAMS_NOTE="streams: $STREAMS_K wanted, $MAX_STREAMS held (open-file hard limit $NOFILE, 2 per stream in the proxy)"
  STREAMS_K=$MAX_STREAMS
fi
start_nginx
start_sse_server
log "nginx on $NGINX_PORT (pid $NGINX_PID), SSE server on $SSE_PORT (pid $SSE_PID); $PIN_NOTE"

DIRECT=(--connect "127.0.0.1:$NGINX_PORT" --ca "$WORK/pki/ca.pem")

# 1. Throughput and latency: no proxy, then the proxy (workers = 1, pinned).
start_proxy orp1 1 "$NGINX_PORT" 1
VIA=(--connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID")
# Throughput swings by 10-30 % between runs on a shared VM: no proxy and the proxy take turns,
# ROUNDS times, and the report takes the median round of each (and shows the spread).
for round in $(seq "$ROUNDS"); do
  loadgen "direct_rps32_r$round" --mode rps "${DIRECT[@]}" --conns 32 --requests "$RPS32_REQ" --warmup 5 \
    --time-limit "$RPS_LIMIT"
  loadgen "orp1_rps32_r$round" --mode rps "${VIA[@]}" --conns 32 --requests "$RPS32_REQ" --warmup 5 \
    --time-limit "$RPS_LIMIT"
done
loadgen direct_rps1 --mode rps "${DIRECT[@]}" --conns 1 --requests "$RPS1_REQ" --warmup 50 --time-limit "$RPS_LIMIT"
loadgen orp1_rps1 --mode rps "${VIA[@]}" --conns 1 --requests "$RPS1_REQ" --warmup 50 --time-limit "$RPS_LIMIT"
# 2. New connections: a full handshake each, then resuming the previous session (tickets).
#    Three rounds as well: the CPU per connection moves by 20-30 % between runs here.
for round in $(seq "$ROUNDS"); do
  connect_row "orp_connect_full_r$round" "$CONNECT_N"
  connect_row "orp_connect_resume_r$round" "$CONNECT_N" --resume
done
stop_proxy

# 3. One worker against two, nothing pinned (proxy, load generator, nginx): what a second worker
#    adds when the scheduler may use every CPU. Turns over ROUNDS rounds, medians reported.
[ "$NCPU" -ge 2 ] && taskset -a -p -c "0-$((NCPU - 1))" "$NGINX_PID" >/dev/null
for round in $(seq "$ROUNDS"); do
  for workers in 1 2; do
    start_proxy "orp${workers}u" "$workers" "$NGINX_PORT" 0
    UNPINNED=1 loadgen "orp${workers}u_rps32_r$round" --mode rps --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" \
      --watch-pid "$PROXY_PID" --conns 32 --requests "$RPS32_REQ" --warmup 5 --time-limit "$RPS_LIMIT"
    stop_proxy
  done
done
[ "$NCPU" -ge 2 ] && taskset -a -p -c 1 "$NGINX_PID" >/dev/null

# 4. Memory per idle intercepted connection, on a fresh proxy (a used heap would hide the cost).
start_proxy orp_idle 1 "$NGINX_PORT" 1
loadgen orp_idle --mode idle --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID" \
  --conns "$IDLE_K" --time-limit 120
stop_proxy

# 5. SSE timing and held streams: the paced SSE server as upstream, fresh proxy.
start_proxy orp_sse 1 "$SSE_PORT" 1
# Four streams at a time (4 x SSE_REQ first events): a p99 over a few dozen samples is its worst one.
SSE_ARGS=(--mode sse --conns 4 --requests "$SSE_REQ" --warmup 2 --sse-events "$SSE_EVENTS"
  --sse-interval-ms "$SSE_INTERVAL_MS" --time-limit 60)
loadgen direct_sse "${SSE_ARGS[@]}" --connect "127.0.0.1:$SSE_PORT" --ca "$WORK/pki/ca.pem"
loadgen orp_sse "${SSE_ARGS[@]}" --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID"
# Diagnostic: the same run with the proxy's threads moved onto the load generator's CPU. On a VM a
# wake-up that crosses vCPUs can take milliseconds (the direct path has none: client and server
# share CPU 1; the proxied one has four per request); this row shows what is left without them.
if [ ${#PIN_LOAD[@]} -gt 0 ]; then
  for task in /proc/"$PROXY_PID"/task/*; do taskset -p -c 1 "${task##*/}" >/dev/null; done
  loadgen orp_sse_samecpu "${SSE_ARGS[@]}" --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID"
fi
stop_proxy
start_proxy orp_streams 1 "$SSE_PORT" 1
loadgen orp_streams --mode streams --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --watch-pid "$PROXY_PID" \
  --conns "$STREAMS_K" --sse-interval-ms "$STREAM_INTERVAL_MS" --hold 2 --time-limit 150
# The streams have closed: a second later the worker gives the burst's memory back (heap trim,
# docs/operations.md). RSS two seconds on, next to the peak loadgen read while they were held.
sleep 2
echo "{\"label\": \"orp_streams_closed\", \"rss_kib\": $(awk '/^VmRSS:/ {print $2}' "/proc/$PROXY_PID/status")}" >>"$RESULTS"
stop_proxy

# 6. A 429 rotated to the next key: the first key always answers 429 (Retry-After: 1), so about
#    every fourth request (paced 250 ms apart) meets it once it has cooled down. The SSE server
#    counts the TLS connections it accepts: a rotation must reuse the pooled one.
sse_connections() {
  curl -s --max-time 5 --cacert "$WORK/pki/ca.pem" "https://127.0.0.1:$SSE_PORT/_bench/stats" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["connections"])'
}
start_proxy orp_429 1 "$SSE_PORT" 1 "sk-or-v1-bench-429 sk-or-v1-bench-pool-a"
loadgen orp_429_warm --mode rps --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --conns 1 --requests 1 --warmup 0 \
  --time-limit 10
C0=$(sse_connections)
loadgen orp_429 --mode rps --connect "$PROXY_ADDR" --proxy --ca "$PROXY_CA" --conns 1 --requests "$R429_REQ" \
  --warmup 0 --pace-ms 250 --time-limit 30
C1=$(sse_connections)
echo "{\"label\": \"orp_429_upstream\", \"new_upstream_connections\": $((C1 - C0 - 1))}" >>"$RESULTS"
stop_proxy

# 7. mitmproxy with a key-rotation addon, same upstream, same pinning.
if [ -z "$MITM_NOTE" ]; then
  MITM_PORT=$(free_port)
  mkdir -p "$WORK/mitm"
  ORP_BENCH_KEYS=sk-or-v1-bench-pool-a,sk-or-v1-bench-pool-b "${PIN_PROXY[@]}" mitmdump -q \
    -s "$ROOT/bench/mitm_rotate_keys.py" --listen-host 127.0.0.1 --listen-port "$MITM_PORT" \
    --set confdir="$WORK/mitm" --set connection_strategy=lazy \
    --set ssl_verify_upstream_trusted_ca="$WORK/pki/ca.pem" >"$WORK/mitm/out.log" 2>&1 &
  MITM_PID=$!
  STARTED+=("$MITM_PID")
  if wait_port "$MITM_PORT" 30; then
    # CONNECT names the loopback upstream itself, so mitmproxy never resolves openrouter.ai.
    MVIA=(--connect "127.0.0.1:$MITM_PORT" --proxy --connect-target "127.0.0.1:$NGINX_PORT"
      --ca "$WORK/mitm/mitmproxy-ca-cert.pem" --watch-pid "$MITM_PID")
    loadgen mitm_rps32 --mode rps "${MVIA[@]}" --conns 32 --requests "$MITM_RPS32_REQ" --warmup 2 --time-limit "$RPS_LIMIT"
    loadgen mitm_rps1 --mode rps "${MVIA[@]}" --conns 1 --requests "$MITM_RPS1_REQ" --warmup 20 --time-limit "$RPS_LIMIT"
    loadgen mitm_connect_full --mode connect "${MVIA[@]}" --conns 4 --requests "$MITM_CONNECT_N" --time-limit "$RPS_LIMIT"
    loadgen mitm_idle --mode idle "${MVIA[@]}" --conns "$MITM_IDLE_K" --time-limit 60
  else
    MITM_NOTE="mitmproxy: did not start ($(tail -c 300 "$WORK/mitm/out.log" | tr '\n' ' '))"
  fi
  stop_pid "$MITM_PID"
fi

# ---- report -------------------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$ROOT/bench/results
mkdir -p "$OUT_DIR"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV="$REV+uncommitted changes"
{
  echo "openrouter-proxy benchmark, $(date '+%Y-%m-%d %H:%M:%S %Z'), $([ "$QUICK" -eq 1 ] && echo quick || echo full) run"
  echo "command: scripts/bench.sh $([ "$QUICK" -eq 1 ] && echo --quick)"
  echo "machine: $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r), load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "proxy: $REV (binary built $PROXY_BUILT), Release; upstream: $(nginx -v 2>&1 | sed 's/.*: //') (1 worker) and bench/sse_server; $PIN_NOTE"
  echo "request: POST /api/v1/chat/completions, 104-byte JSON body, 289-byte JSON answer; keep-alive on both legs"
  [ -n "$MITM_NOTE" ] && echo "$MITM_NOTE"
  [ -n "$STREAMS_NOTE" ] && echo "$STREAMS_NOTE"
  true
} >"$WORK/machine.txt"
$PY bench/report.py "$RESULTS" "$WORK/machine.txt" "$OUT_DIR/$STAMP.txt" "$WORK/chart.dat"
cp "$RESULTS" "$OUT_DIR/$STAMP.jsonl"
if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$WORK/chart.dat'; outfile='$OUT_DIR/$STAMP.png'; subtitle='$NCPU CPUs, $PIN_NOTE'" \
    bench/chart.gp 2>>"$WORK/gnuplot.err" && echo "chart: bench/results/$STAMP.png"
fi
echo "results: bench/results/$STAMP.txt"

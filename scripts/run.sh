#!/usr/bin/env bash
# Installs what is missing, builds, creates the local CA, and starts the proxy with config.ini
# and keys.csv from the repository root. Extra arguments go to `openrouter-proxy run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --runtime
# config.ini of the repository unless the arguments name another (--config F or --config=F).
config_args=(--config config.ini)
for arg in "$@"; do
  case "$arg" in --config|--config=*) config_args=() ;; esac
done

# `ca init` and the client hint (`env`) take this run's settings (config.ini, --listen, --set ...),
# so the CA is the one the proxy uses and the hint names the address it really listens on.
# --ready-file is run's own: the others do not take it.
env_args=("${config_args[@]}")
skip_value=0
for arg in "$@"; do
  if [ "$skip_value" -eq 1 ]; then skip_value=0; continue; fi
  case "$arg" in
    --ready-file) skip_value=1 ;;
    --ready-file=*) ;;
    *) env_args+=("$arg") ;;
  esac
done
./build/openrouter-proxy ca init "${env_args[@]}"
env_command=$(printf '%q ' ./build/openrouter-proxy env "${env_args[@]}")
echo "run: trust certs/ca.pem (scripts/install-ca.sh, or see docs/clients.md), then in a client's shell:"
printf '     eval "$(cd %q && %s)"\n' "$PWD" "${env_command% }"
if exports=$(./build/openrouter-proxy env "${env_args[@]}" 2>/dev/null); then
  proxy_url=$(sed -n "s/^export HTTPS_PROXY='\(.*\)'$/\1/p" <<<"$exports")
  # Credentials from proxy.clients stay out of the terminal: the address alone.
  [[ $proxy_url == *@* ]] && proxy_url="http://${proxy_url#*@}"
  [ -n "$proxy_url" ] && echo "     (HTTPS_PROXY=$proxy_url and the CA bundle for curl, Python, Node, git, pip, npm)"
fi
exec ./build/openrouter-proxy run "${config_args[@]}" "$@"

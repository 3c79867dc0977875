#!/usr/bin/env bash
# Adds the proxy's local CA to the system trust store, or takes it out again.
#
#   scripts/install-ca.sh [--remove] [CA_PEM]        CA_PEM defaults to certs/ca.pem
#
# Debian/Ubuntu: /usr/local/share/ca-certificates/openrouter-proxy.crt + update-ca-certificates
# Fedora/RHEL:   /etc/pki/ca-trust/source/anchors/openrouter-proxy.pem + update-ca-trust
# macOS:         security add-trusted-cert / remove-trusted-cert on the System keychain
# Anything else is refused with exit code 2. Running it twice changes nothing; sudo is used only
# when not root. The CA's nameConstraints limit it to the intercepted hosts (openrouter.ai), so
# trusting it system-wide does not let it vouch for any other site.
#
# ORP_TRUST_ROOT=DIR (tests) installs into a Debian-style store below DIR instead of the system's.
set -euo pipefail

NAME=openrouter-proxy
CN="openrouter-proxy local CA"

# usage [CODE]: to stdout and exit 0 when asked for (--help), else to stderr and exit 2.
usage() {
  local code=${1:-2} text="usage: $0 [--remove] [CA_PEM]   (CA_PEM defaults to certs/ca.pem)"
  if [ "$code" -eq 0 ]; then echo "$text"; else echo "$text" >&2; fi
  exit "$code"
}

remove=0
ca=""
while [ $# -gt 0 ]; do
  case "$1" in
    --remove) remove=1 ;;
    -h|--help) usage 0 ;;
    -*) echo "install-ca: unknown option $1" >&2; usage ;;
    *) [ -z "$ca" ] || usage; ca=$1 ;;
  esac
  shift
done
ca=${ca:-certs/ca.pem}

as_root() {
  if [ "$(id -u)" -eq 0 ] || [ -n "${ORP_TRUST_ROOT:-}" ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "install-ca: need root for $1 and sudo is not installed; run this as root" >&2
    exit 2
  fi
}

# The CA must be one PEM certificate and nothing else (above all not ca.key).
check_ca() {
  if [ ! -r "$ca" ]; then
    echo "install-ca: $ca: not found; run \`openrouter-proxy ca init\` first or name the CA file" >&2
    exit 2
  fi
  if grep -q "PRIVATE KEY" "$ca"; then
    echo "install-ca: $ca holds a private key; give the CA certificate (ca.pem), never ca.key" >&2
    exit 2
  fi
  if [ "$(grep -c -- "-----BEGIN CERTIFICATE-----" "$ca")" -ne 1 ]; then
    echo "install-ca: $ca: expected exactly one PEM certificate" >&2
    exit 2
  fi
  if command -v openssl >/dev/null && ! openssl x509 -in "$ca" -noout 2>/dev/null; then
    echo "install-ca: $ca: not a valid certificate" >&2
    exit 2
  fi
}

# Copies the CA to $1 unless an identical copy is there; says which.
place() {
  local target=$1
  if [ -f "$target" ] && cmp -s "$ca" "$target"; then
    echo "install-ca: $target already holds this CA"
  else
    as_root mkdir -p "$(dirname "$target")"
    as_root install -m 0644 "$ca" "$target"
    echo "install-ca: installed $target"
  fi
}

unplace() {
  local target=$1
  if [ -e "$target" ]; then
    as_root rm -f "$target"
    echo "install-ca: removed $target"
  else
    echo "install-ca: $target is not installed"
  fi
}

debian() {
  local root=${ORP_TRUST_ROOT:-}
  local target=$root/usr/local/share/ca-certificates/$NAME.crt
  local update=(update-ca-certificates)
  if [ -n "$root" ]; then
    mkdir -p "$root/etc/ssl/certs" "$root/etc/ca-certificates/update.d" "$root/usr/share/ca-certificates"
    touch "$root/etc/ca-certificates.conf"
    update+=(--certsconf "$root/etc/ca-certificates.conf" --certsdir "$root/usr/share/ca-certificates"
             --localcertsdir "$root/usr/local/share/ca-certificates" --etccertsdir "$root/etc/ssl/certs"
             --hooksdir "$root/etc/ca-certificates/update.d")
  fi
  if [ "$remove" -eq 1 ]; then
    unplace "$target"
    # Without --fresh the link /etc/ssl/certs/openrouter-proxy.pem and its hash link stay behind.
    update+=(--fresh)
  else
    place "$target"
  fi
  as_root "${update[@]}"
}

fedora() {
  local target=/etc/pki/ca-trust/source/anchors/$NAME.pem
  if [ "$remove" -eq 1 ]; then unplace "$target"; else place "$target"; fi
  as_root update-ca-trust extract
}

macos() {
  local keychain=/Library/Keychains/System.keychain
  if [ "$remove" -eq 1 ]; then
    local pem
    pem=$(mktemp)
    trap 'rm -f "$pem"' EXIT
    if [ -r "$ca" ]; then
      cp "$ca" "$pem"
    elif ! security find-certificate -c "$CN" -p "$keychain" >"$pem" 2>/dev/null; then
      echo "install-ca: \"$CN\" is not in $keychain"
      return 0
    fi
    local sha1
    sha1=$(openssl x509 -in "$pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
    as_root security remove-trusted-cert -d "$pem" 2>/dev/null || true
    if security find-certificate -a -Z "$keychain" | grep -qi "SHA-1 hash: $sha1"; then
      as_root security delete-certificate -Z "$sha1" "$keychain"
      echo "install-ca: removed \"$CN\" ($sha1) from $keychain"
    else
      echo "install-ca: this CA is not in $keychain"
    fi
  else
    check_ca
    # Adding an already trusted certificate only rewrites the same trust setting.
    as_root security add-trusted-cert -d -r trustRoot -k "$keychain" "$ca"
    echo "install-ca: \"$CN\" is trusted in $keychain"
  fi
}

[ "$remove" -eq 1 ] || [ "$(uname -s)" = Darwin ] || check_ca

if [ -n "${ORP_TRUST_ROOT:-}" ]; then
  debian
elif [ "$(uname -s)" = Darwin ]; then
  macos
elif command -v update-ca-certificates >/dev/null && [ -d /usr/local/share/ca-certificates ]; then
  debian
elif command -v update-ca-trust >/dev/null && [ -d /etc/pki/ca-trust/source/anchors ]; then
  fedora
else
  echo "install-ca: unsupported system ($(uname -s)): found neither update-ca-certificates (Debian/Ubuntu)," \
       "update-ca-trust (Fedora/RHEL) nor macOS's security tool; add $ca to your trust store by hand" >&2
  exit 2
fi

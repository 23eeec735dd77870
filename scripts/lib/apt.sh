# shellcheck shell=bash
# Sourced by the scripts/install-*-deps.sh installers: one way to install
# Debian packages for tests and benchmarks.
#
#   apt_install <who> <package>...
#
# Needs root. Debian starts a system-wide daemon (nginx, dnsmasq, tftpd-hpa …)
# when its package is installed; a /usr/sbin/policy-rc.d that exits 101 tells
# invoke-rc.d not to, for the duration of the install only. An existing
# policy-rc.d is put back exactly as it was. The tests start their own
# daemons (own config, loopback or their own namespaces) and stop them by PID.
# `apt-get update` runs at most once in 30 minutes across installers.

apt_install() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: needs root to apt-get install $*" >&2
    return 1
  fi
  local policy=/usr/sbin/policy-rc.d saved="" rc=0
  if [ -e "$policy" ]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\n# put here by chainboot %s for the duration of apt-get install\nexit 101\n' "$who" >"$policy"
  chmod 755 "$policy"
  export DEBIAN_FRONTEND=noninteractive
  local stamp=/tmp/chainboot-apt-updated
  if [ -z "$(find "$stamp" -mmin -30 2>/dev/null)" ]; then
    apt-get update -q && touch "$stamp" || rc=$?
  fi
  [ $rc -ne 0 ] || apt-get install -y -q --no-install-recommends "$@" || rc=$?
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
  return $rc
}

#!/usr/bin/env bash
# Installs what bench/render needs beside Node: wrk (the load generator) and
# nginx-light (the static-file upper bound). Run once, as root:
#
#     sudo scripts/install-bench-deps.sh
#
# Debian starts a system-wide nginx when the package is installed; a
# /usr/sbin/policy-rc.d that exits 101 tells invoke-rc.d not to, so nothing
# keeps running afterwards. bench/render starts its own nginx from its own
# config file and stops it by PID. An existing policy-rc.d is put back as it was.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-bench-deps: run as root (apt-get install)" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved=$(mktemp)
  cp -p "$policy" "$saved"
fi
restore() {
  if [ -n "$saved" ]; then
    mv -f "$saved" "$policy"
  else
    rm -f "$policy"
  fi
}
trap restore EXIT

printf '#!/bin/sh\n# installed by chainboot scripts/install-bench-deps.sh for the duration of apt-get install\nexit 101\n' > "$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends wrk nginx-light

echo "install-bench-deps: wrk at $(command -v wrk), nginx at $(command -v nginx || echo /usr/sbin/nginx)"

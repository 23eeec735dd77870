#!/usr/bin/env bash
# Installs what bench/render needs beside Node: wrk (the load generator) and
# nginx-light (the static-file upper bound). Run once, as root:
#
#     sudo scripts/install-bench-deps.sh
#
# No system-wide nginx is started (scripts/lib/apt.sh); bench/render starts
# its own from its own config file and stops it by PID.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
apt_install install-bench-deps "${need[@]}"

echo "install-bench-deps: wrk at $(command -v wrk), nginx at /usr/sbin/nginx"

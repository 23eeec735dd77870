#!/usr/bin/env bash
# What the asset-streaming tests (test/http/assets*.test.ts) and bench/assets
# need from Debian: curl and aria2c (real range-using clients) and nginx (the
# caching reverse proxy with the slice module in front of chainboot, and the
# sendfile peer in the benchmark). Run as root; safe to run again.
#
# Which package has ngx_http_slice_module: since Debian 12 (nginx 1.22.1-9)
# the binary lives in the package "nginx", built --with-http_slice_module;
# nginx-light/-core/-full are only sets of dynamic modules on top of it. So
# "nginx" alone is enough; the script checks `nginx -V` afterwards rather than
# trusting this comment.
#
# No system-wide nginx is started (scripts/lib/apt.sh); the tests start their
# own (own config, daemon off, loopback) and stop it by PID.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

need=()
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v aria2c >/dev/null 2>&1 || need+=(aria2)
[ -x /usr/sbin/nginx ] || need+=(nginx)

apt_install install-asset-test-deps "${need[@]}"

if ! /usr/sbin/nginx -V 2>&1 | grep -q -- --with-http_slice_module; then
  echo "install-asset-test-deps: /usr/sbin/nginx has no ngx_http_slice_module (nginx -V); the cache test needs it" >&2
  exit 1
fi
echo "install-asset-test-deps: curl $(command -v curl), aria2c $(command -v aria2c), nginx /usr/sbin/nginx (slice module present)"

#!/usr/bin/env bash
# Everything the test suite needs from Debian, installed without starting any
# system-wide daemon. Runs each protocol's own installer
# (scripts/install-<area>-test-deps.sh). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/apt.sh
command -v curl >/dev/null 2>&1 || apt_install install-test-deps curl ca-certificates

for installer in scripts/install-*-test-deps.sh; do
  [ "$installer" = scripts/install-test-deps.sh ] && continue
  echo "== $installer"
  bash "$installer"
done

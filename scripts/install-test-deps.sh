#!/usr/bin/env bash
# Everything the test suite needs from Debian, installed without starting any
# system-wide daemon. Runs each protocol's own installer
# (scripts/install-<area>-test-deps.sh). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v curl >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: curl is missing and installing it needs root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates
fi

for installer in scripts/install-*-test-deps.sh; do
  [ "$installer" = scripts/install-test-deps.sh ] && continue
  echo "== $installer"
  bash "$installer"
done

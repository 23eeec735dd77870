#!/usr/bin/env bash
# What the admin UI browser tests (test/ui/browser.test.ts) need from Debian:
# Chromium, driven headless by playwright-core (an npm devDependency, which
# downloads no browser of its own). Run as root; safe to run again.
# Chromium pulls in packages that ship services (dbus, …): none is started
# by the install (scripts/lib/apt.sh).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

if [ -x /usr/bin/chromium ]; then
  echo "install-ui-test-deps: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) at /usr/bin/chromium"
  exit 0
fi

# fonts-liberation: readable text in the screenshots; chromium's own
# recommends are not needed headless.
apt_install install-ui-test-deps chromium fonts-liberation

if [ ! -x /usr/bin/chromium ]; then
  echo "install-ui-test-deps: apt-get finished but /usr/bin/chromium is not there" >&2
  exit 1
fi
echo "install-ui-test-deps: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) at /usr/bin/chromium"

#!/usr/bin/env bash
# Installs what the PostgreSQL tests need (Debian 12):
#   postgresql   the server binaries (/usr/lib/postgresql/<v>/bin: initdb, pg_ctl,
#                postgres) and the "postgres" user the server runs as
# The tests start their own throwaway cluster in a temp folder, listening on a
# Unix socket only (test/helpers/postgres.ts); no system-wide PostgreSQL is
# started by the install (scripts/lib/apt.sh).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

need=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
id -u postgres >/dev/null 2>&1 || need+=(postgresql)
apt_install install-pg-test-deps "${need[@]}"

for v in /usr/lib/postgresql/*/bin; do echo "postgresql: $v ($("$v/postgres" --version))"; done

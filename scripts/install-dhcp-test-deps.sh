#!/usr/bin/env bash
# Installs what test/dhcp and bench/dhcp need (Debian 12):
#   iproute2         ip netns / veth: every port 67/68 exchange runs inside
#                    network namespaces the tests make themselves
#   busybox-static   udhcpc, the real DHCP client of the socket tests
#   isc-dhcp-client  dhclient, a second real client (logs every offer it sees)
#   dnsmasq          the plain DHCP server beside chainboot in the socket tests,
#                    and the proxyDHCP peer bench/dhcp compares against
# No system-wide dnsmasq is started by the install (scripts/lib/apt.sh).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq)
# Either busybox package has udhcpc; busybox-static is the one the QEMU notes use.
if ! { command -v busybox >/dev/null 2>&1 && busybox --list 2>/dev/null | grep -qx udhcpc; }; then
  need+=(busybox-static)
fi
[ -x /sbin/dhclient ] || [ -x /usr/sbin/dhclient ] || need+=(isc-dhcp-client)
apt_install install-dhcp-test-deps "${need[@]}"

# A dnsmasq service started by an earlier install without the policy file is
# the system's business, not ours: only say so (it would hold port 67 outside
# the tests' namespaces, which does not disturb them).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dnsmasq 2>/dev/null; then
  echo "install-dhcp-test-deps: note: system service dnsmasq is running (not started by this script)" >&2
fi

echo "ip:       $(command -v ip)"
echo "dnsmasq:  /usr/sbin/dnsmasq ($(/usr/sbin/dnsmasq --version | head -1))"
echo "udhcpc:   $(command -v busybox) udhcpc ($(busybox 2>&1 | head -1))"
echo "dhclient: $(command -v dhclient || echo /sbin/dhclient)"

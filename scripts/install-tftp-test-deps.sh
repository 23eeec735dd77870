#!/usr/bin/env bash
# Installs what test/tftp and bench/tftp need (Debian 12):
#   clients: tftp-hpa (tftp), atftp, curl          — used by the integration tests
#   peers:   tftpd-hpa (in.tftpd), dnsmasq         — used by bench/tftp
#   atftpd:  unpacked (not installed: it conflicts with tftpd-hpa) into
#            $ATFTPD_DIR (default /opt/chainboot-atftpd), binary at
#            $ATFTPD_DIR/usr/sbin/atftpd           — optional windowsize peer for bench/tftp
#   gcc:     compiles bench/tftp-load/loadgen.c
# No system-wide daemon is started by the install (scripts/lib/apt.sh).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

ATFTPD_DIR=${ATFTPD_DIR:-/opt/chainboot-atftpd}
need=()
command -v tftp >/dev/null 2>&1 || need+=(tftp-hpa)
command -v atftp >/dev/null 2>&1 || need+=(atftp)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/sbin/in.tftpd ] || need+=(tftpd-hpa)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
apt_install install-tftp-test-deps "${need[@]}"

# The packaged daemons may have been started by an earlier install without the
# policy file; that is the system's business, not ours: only say so.
for svc in tftpd-hpa dnsmasq; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    echo "install-tftp-test-deps: note: system service $svc is running (not started by this script)" >&2
  fi
done

if [ ! -x "$ATFTPD_DIR/usr/sbin/atftpd" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt-get download writes as the _apt user
  ( cd "$tmp" && apt-get download atftpd ) || { apt-get update -q && ( cd "$tmp" && apt-get download atftpd ); }
  mkdir -p "$ATFTPD_DIR"
  dpkg -x "$tmp"/atftpd_*.deb "$ATFTPD_DIR"
  rm -rf "$tmp"
fi

echo "tftp:    $(command -v tftp)"
echo "atftp:   $(command -v atftp)"
echo "curl:    $(command -v curl) ($(curl --version | head -1 | cut -d' ' -f1-2); tftp: $(curl --version | grep -q 'Protocols:.*tftp' && echo yes || echo NO))"
echo "in.tftpd: /usr/sbin/in.tftpd"
echo "dnsmasq: /usr/sbin/dnsmasq"
echo "atftpd:  $ATFTPD_DIR/usr/sbin/atftpd"

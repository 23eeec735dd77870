#!/usr/bin/env bash
# What the end-to-end boots (test/e2e) need from Debian 12: QEMU with its iPXE
# NIC ROMs, OVMF (UEFI firmware), Debian's iPXE and pxelinux/syslinux loaders,
# busybox-static and cpio for the tiny Linux's initramfs, dnsmasq as the plain
# DHCP server, iproute2 for the namespaces. The kernel is not installed: the
# test downloads the linux-image package and unpacks it (dpkg -x) into its
# cache. No daemon is started by the install (scripts/lib/apt.sh).
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ -e /usr/share/qemu/pxe-virtio.rom ] || [ -e /usr/lib/ipxe/qemu/pxe-virtio.rom ] || need+=(ipxe-qemu)
[ -e /usr/lib/ipxe/ipxe.efi ] || need+=(ipxe)
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
[ -e /usr/lib/PXELINUX/lpxelinux.0 ] || need+=(pxelinux)
[ -e /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || need+=(syslinux-common)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx udhcpc || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v gzip >/dev/null 2>&1 || need+=(gzip)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
apt_install install-e2e-test-deps "${need[@]}"

echo "install-e2e-test-deps: $(qemu-system-x86_64 --version | head -1); OVMF $(dpkg-query -W -f '${Version}' ovmf); ipxe $(dpkg-query -W -f '${Version}' ipxe); pxelinux $(dpkg-query -W -f '${Version}' pxelinux)"

#!/usr/bin/env bash
# Copies the loaders Debian's ipxe, pxelinux and syslinux-common packages
# install into boot-assets/loaders/ (or the directory given), for a setup that
# should not depend on the system paths. Copies only what exists; says what is missing.
set -euo pipefail
dest=${1:-"$(dirname "$0")/../boot-assets/loaders"}
mkdir -p "$dest"
copy() {
  local src=$1 pkg=$2
  if [ -f "$src" ]; then
    cp -p "$src" "$dest/" && echo "copied $src"
  else
    echo "missing $src (apt-get install $pkg)" >&2
  fi
}
for f in undionly.kpxe ipxe.efi snponly.efi; do copy "/usr/lib/ipxe/$f" ipxe; done
copy /usr/lib/PXELINUX/lpxelinux.0 pxelinux
copy /usr/lib/PXELINUX/pxelinux.0 pxelinux
copy /usr/lib/syslinux/memdisk syslinux-common
for f in ldlinux.c32 libutil.c32 menu.c32 libcom32.c32; do copy "/usr/lib/syslinux/modules/bios/$f" syslinux-common; done

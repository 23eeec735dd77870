/**
 * Loaders (the first programs a PXE client runs, and the helpers pxelinux and
 * iPXE fetch over HTTP). Looked up in the configured loader root first, then
 * where Debian's packages install them; a missing one is reported with the
 * package that provides it.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface LoaderInfo {
  /** How to get it: the Debian package, or where to download it when Debian has none. */
  provider: string;
  systemDirs: string[];
}

const IPXE = { provider: 'install the Debian package "ipxe"', systemDirs: ['/usr/lib/ipxe'] };
const PXELINUX = { provider: 'install the Debian package "pxelinux"', systemDirs: ['/usr/lib/PXELINUX'] };
const SYSLINUX_MOD = { provider: 'install the Debian package "syslinux-common"', systemDirs: ['/usr/lib/syslinux/modules/bios'] };

export const LOADERS: Record<string, LoaderInfo> = {
  'undionly.kpxe': IPXE,
  'ipxe.efi': IPXE,
  'snponly.efi': IPXE,
  'ipxe.pxe': IPXE,
  'lpxelinux.0': PXELINUX,
  'pxelinux.0': PXELINUX,
  // Debian 12 ships no gpxelinux.0 (syslinux 6 replaced it with lpxelinux.0);
  // one supplied by the user in the loader root is served like the others.
  'gpxelinux.0': { provider: 'Debian 12 does not package it: copy one from syslinux 4.x into the loader root, or use lpxelinux.0', systemDirs: [] },
  memdisk: { provider: 'install the Debian package "syslinux-common"', systemDirs: ['/usr/lib/syslinux'] },
  wimboot: { provider: 'download it from https://ipxe.org/wimboot into the loader root (Debian does not package it)', systemDirs: [] },
};

/** The ones `serve` reports on at start. */
export const ESSENTIAL_LOADERS = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'lpxelinux.0', 'memdisk', 'wimboot'];

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds a loader by its bare name (already checked to be a plain file name).
 * Syslinux COM32 modules (*.c32) are found among the BIOS modules.
 */
export function findLoader(name: string, loaderRoot: string, systemDirsEnabled = true): string | null {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return null;
  const local = join(loaderRoot, name);
  if (isFile(local)) return local;
  if (!systemDirsEnabled) return null;
  const info = LOADERS[name] ?? (name.endsWith('.c32') ? SYSLINUX_MOD : undefined);
  for (const dir of info?.systemDirs ?? []) {
    const p = join(dir, name);
    if (isFile(p)) return p;
  }
  return null;
}

export function loaderReport(loaderRoot: string): { name: string; path: string | null; provider: string }[] {
  return ESSENTIAL_LOADERS.map((name) => ({ name, path: findLoader(name, loaderRoot), provider: LOADERS[name]!.provider }));
}

export function loaderRootExists(loaderRoot: string): boolean {
  return existsSync(loaderRoot);
}

/**
 * Are the loaders there, which builds are they, and can firmware fetch them?
 * The firmware's first fetch is over TFTP. TFTP and HTTP /loaders/<name> both
 * serve the loader root (a symlink resolving outside it is refused) and, for a
 * known loader name missing there, Debian's system copy (boot/loaders.ts). A
 * loader found only in /usr/lib/ipxe works, but depends on the package staying
 * installed: worth a copy in the root for images and containers.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ESSENTIAL_LOADERS, LOADERS } from '../boot/loaders.js';
import { ARCHITECTURES } from '../dhcp/firmware.js';
import type { Check } from './check.js';

// ---- pure -----------------------------------------------------------------

/**
 * A version string read from the binary: iPXE keeps its short product name
 * and version side by side ("iPXE\0…1.21.1+ (g8e3bd)\0", core/version.c);
 * syslinux prints "PXELINUX 6.04 lwIP 20200816"; wimboot "wimboot v2.8.0".
 * iPXE's compressed .kpxe images hide theirs: null then.
 */
export function binaryVersion(buf: Buffer): string | null {
  const s = buf.toString('latin1');
  const ipxe = /iPXE\x00+([0-9][\x20-\x7e]{2,80})\x00/.exec(s);
  if (ipxe) return `iPXE ${ipxe[1]}`;
  const sys = /\b(PXELINUX|LPXELINUX|SYSLINUX|ISOLINUX|EXTLINUX|MEMDISK) (\d+\.\d+[0-9A-Za-z.+~-]*)((?: lwIP)?(?: \d{8})?)/.exec(s);
  if (sys) return `${sys[1]} ${sys[2]}${sys[3] ?? ''}`;
  const wim = /\bwimboot (v\d+\.\d+\.\d+[0-9A-Za-z.+~-]*)/.exec(s);
  if (wim) return `wimboot ${wim[1]}`;
  return null;
}

/** The Debian package that installs files under a directory, for `dpkg-query`. */
export function debianPackageFor(path: string): string | null {
  if (path.startsWith('/usr/lib/ipxe/') || /^\/boot\/ipxe\.(efi|lkrn)$/.test(path)) return 'ipxe';
  if (path.startsWith('/usr/lib/PXELINUX/')) return 'pxelinux';
  if (path.startsWith('/usr/lib/syslinux/')) return 'syslinux-common';
  return null;
}

export interface FileFacts {
  /** The real path (symlinks resolved). */
  path: string;
  size: number;
  sha256: string;
  /** Read from the binary itself (null for compressed images). */
  version: string | null;
  /** The Debian package that installed it (or a byte-identical system copy of it), with its version. */
  package: { name: string; version: string } | null;
}

export interface LinkFacts {
  path: string;
  target: string;
  dangling: boolean;
}

export interface LoaderFacts {
  name: string;
  /** The architecture loader keys that name this file (bios, efi64 …); empty for HTTP-only helpers. */
  keys: string[];
  /** An http(s) URL given instead of a file. */
  url?: boolean;
  root: string;
  /** <root>/<name> as found: a file, a symlink (then `link`), or nothing. */
  inRoot: 'file' | 'symlink' | 'missing' | 'other';
  link?: LinkFacts;
  /** The file TFTP would serve (real path inside the root), or null. */
  tftpPath: string | null;
  /** Found outside the root, where HTTP /loaders also looks (Debian's paths). */
  systemPath: string | null;
  /** A Debian symlink in a system dir (e.g. /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi). */
  systemLink?: LinkFacts;
  /** The file that would be served (TFTP's, else the system one). */
  file?: FileFacts;
  /** How to get it when missing. */
  provider: string;
}

export interface LoaderContext {
  tftpOn: boolean;
  dhcpOn: boolean;
}

/** "BIOS" / "x64 UEFI (arch 7, 9)" / "loader key rpi5", for the check's name. */
export function roleOf(keys: string[]): string {
  if (keys.length === 0) return 'fetched over HTTP by profiles';
  return keys
    .map((k) => {
      const archs = Object.entries(ARCHITECTURES).filter(([, a]) => a.key === k && !a.http);
      if (archs.length === 0) return `loader key ${k}`;
      return `${archs[0]![1].name.replace(/ \(.*\)$/, '')} firmware, arch ${archs.map(([n]) => n).join('/')}`;
    })
    .join('; ');
}

function describeFile(f: FileFacts): string {
  const v = f.version ?? (f.package ? 'no version string in the binary (compressed image)' : 'version unknown (no version string in the binary)');
  const pkg = f.package ? `, Debian package ${f.package.name} ${f.package.version}` : '';
  return `${f.path}: ${f.size} bytes, sha256 ${f.sha256}, ${v}${pkg}`;
}

const debianLinkNote = (l: LinkFacts) =>
  `${l.path} is a symlink to ${l.target}${l.dangling ? ', which does not exist' : ''} (Debian's ipxe package keeps ipxe.efi in /boot for grub-ipxe; a Docker COPY, "cp -a" or a cleaned /boot keeps only the link)`;

export function checkLoader(f: LoaderFacts, ctx: LoaderContext): Check {
  const firmwareLoader = f.keys.length > 0;
  const name = `Loader ${f.name} (${roleOf(f.keys)})`;
  const base = { id: `loader.${f.name}`, name, data: f };
  if (f.url) return { ...base, status: 'ok', detail: 'an http(s) URL (UEFI HTTP Boot / iPXE fetch it themselves): not checked' };
  // What a missing or unusable firmware loader costs: a client of that architecture cannot boot.
  const bad: 'fail' | 'warn' = firmwareLoader && ctx.dhcpOn ? 'fail' : 'warn';
  const copyFix = (src: string) => `cp -L ${src} ${join(f.root, f.name)}   (or scripts/copy-debian-loaders.sh ${f.root})`;

  if (f.tftpPath && f.file) {
    const lines = [describeFile(f.file)];
    if (f.link) lines.push(`(${join(f.root, f.name)} is a symlink to ${f.link.target}, inside the loader root)`);
    if (firmwareLoader && !ctx.tftpOn && ctx.dhcpOn) {
      return { ...base, status: 'warn', detail: [...lines, 'TFTP is off: proxyDHCP hands this file to firmware, which fetches it over TFTP'].join('\n'), fix: `turn TFTP on (--tftp on), or serve ${f.root} from your own TFTP server` };
    }
    return { ...base, status: 'ok', detail: lines.join('\n') };
  }

  if (f.inRoot === 'symlink' && f.link) {
    const lines = [f.link.dangling ? `${join(f.root, f.name)} is a symlink to ${f.link.target}, which does not exist` : `${join(f.root, f.name)} is a symlink to ${f.link.target}, outside the loader root: TFTP refuses it`];
    if (f.file) lines.push(describeFile(f.file));
    if (f.link.target.startsWith('/boot/ipxe')) lines.push("(that is Debian's ipxe.efi location in /boot)");
    const src = f.link.dangling ? (f.systemPath ?? '<a copy of it>') : f.link.target;
    if (!firmwareLoader && !f.link.dangling) return { ...base, status: 'ok', detail: [...lines.slice(1), `served over HTTP through the link ${join(f.root, f.name)}`].join('\n') };
    return { ...base, status: bad, detail: lines.join('\n'), fix: `replace the link with a copy: rm ${join(f.root, f.name)} && ${copyFix(src)}` };
  }

  if (f.systemPath && f.file) {
    const lines = [describeFile(f.file), `found at ${f.systemPath}, outside the loader root ${f.root}`];
    if (f.systemLink) lines.push(debianLinkNote(f.systemLink));
    lines.push(`TFTP and HTTP serve it from there${firmwareLoader ? ' (PXE firmware fetches it over TFTP)' : ''}`);
    if (f.systemLink) return { ...base, status: 'warn', detail: lines.join('\n'), fix: `copy it into the loader root so it survives image builds: ${copyFix(f.systemPath)}` };
    return { ...base, status: 'ok', detail: lines.join('\n') };
  }

  const lines = [`not in ${f.root}${(LOADERS[f.name]?.systemDirs.length ?? 0) > 0 ? ` nor in ${LOADERS[f.name]!.systemDirs.join(', ')}` : ''}`];
  if (f.systemLink) lines.push(debianLinkNote(f.systemLink));
  if (f.inRoot === 'other') lines[0] = `${join(f.root, f.name)} is not a regular file`;
  const fix = f.systemLink?.dangling && f.systemLink.target.startsWith('/boot/') ? `apt-get install --reinstall ipxe (it restores ${f.systemLink.target}), then ${copyFix(f.systemLink.path)}` : `${f.provider}${firmwareLoader ? `, then copy it into ${f.root}` : ''}`;
  return { ...base, status: firmwareLoader ? bad : 'warn', detail: lines.concat(firmwareLoader ? [] : ['needed only by profiles that use it']).join('\n'), fix };
}

export function checkLoaderRoot(root: string, exists: boolean, entries: number): Check {
  const base = { id: 'loader.root', name: 'Loader root', data: { root: resolve(root), exists, entries } };
  if (!exists) return { ...base, status: 'fail', detail: `${root} does not exist: TFTP has nothing to serve`, fix: `mkdir -p ${root} && scripts/copy-debian-loaders.sh ${root} (or set --loader-root)` };
  return { ...base, status: 'ok', detail: `${resolve(root)} (${entries} entries; TFTP serves only this directory)` };
}

// ---- gathering ------------------------------------------------------------

export type DpkgVersion = (pkg: string) => string | null;

export function dpkgVersion(pkg: string): string | null {
  try {
    const v = execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return v || null;
  } catch {
    return null;
  }
}

function linkFacts(path: string): LinkFacts | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
    const target = readlinkSync(path);
    let dangling = false;
    try {
      statSync(path);
    } catch {
      dangling = true;
    }
    return { path, target: resolve(dirname(path), target), dangling };
  } catch {
    return undefined;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function fileFacts(path: string, dpkg: DpkgVersion, systemCopies: string[], rootVersions: Map<string, string> | null): FileFacts | undefined {
  let real: string;
  let buf: Buffer;
  try {
    real = realpathSync(path);
    buf = readFileSync(real);
  } catch {
    return undefined;
  }
  const sha256 = createHash('sha256').update(buf).digest('hex');
  const version = binaryVersion(buf);
  // Debian's package version names the exact build; a byte-identical copy in the root has it too.
  let pkg = debianPackageFor(real) ?? debianPackageFor(path);
  if (!pkg) {
    for (const c of systemCopies) {
      try {
        const other = readFileSync(c);
        if (createHash('sha256').update(other).digest('hex') === sha256) {
          pkg = debianPackageFor(realpathSync(c)) ?? debianPackageFor(c);
          break;
        }
      } catch {
        /* no system copy */
      }
    }
  }
  let pv = pkg ? dpkg(pkg) : null;
  // An image built without the packages (Dockerfile) records their versions beside the copies.
  if (!pv && rootVersions) {
    pkg ??= packageOfName(basename(path));
    pv = pkg ? (rootVersions.get(pkg) ?? null) : null;
  }
  return { path: real, size: buf.length, sha256, version, package: pkg && pv ? { name: pkg, version: pv } : null };
}

/** The Debian package a loader name comes from, by where boot/loaders.ts looks for it. */
function packageOfName(name: string): string | null {
  const dir = LOADERS[name]?.systemDirs[0];
  return dir ? debianPackageFor(join(dir, name)) : null;
}

/** `dpkg-query -W` output ("name<TAB>version" lines), as the Dockerfile saves it to <loader root>/VERSIONS. */
export function parseVersionsFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9]+)?\s+(\S+)\s*$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

function readVersionsFile(root: string): Map<string, string> | null {
  try {
    return parseVersionsFile(readFileSync(join(root, 'VERSIONS'), 'utf8'));
  } catch {
    return null;
  }
}

export interface GatherLoaderOptions {
  /** Look in Debian's system directories too (as serve does); tests turn it off. */
  systemDirs?: boolean;
  dpkg?: DpkgVersion;
}

/** Facts about one loader file name, configured for `keys` (empty: an HTTP-only helper). */
export function gatherLoader(name: string, keys: string[], root: string, o: GatherLoaderOptions = {}): LoaderFacts {
  const systemDirsOn = o.systemDirs ?? true;
  const dpkg = o.dpkg ?? dpkgVersion;
  const info = LOADERS[basename(name)];
  const provider = info?.provider ?? `put ${name} into the loader root`;
  if (/^https?:\/\//.test(name)) return { name, keys, url: true, root, inRoot: 'missing', tftpPath: null, systemPath: null, provider };

  const rootPath = join(root, name);
  let inRoot: LoaderFacts['inRoot'] = 'missing';
  try {
    const st = lstatSync(rootPath);
    inRoot = st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
  } catch {
    /* missing */
  }
  const link = inRoot === 'symlink' ? linkFacts(rootPath) : undefined;

  let tftpPath: string | null = null;
  try {
    const realRoot = realpathSync(root);
    const real = realpathSync(rootPath);
    if (real.startsWith(realRoot + sep) && statSync(real).isFile()) tftpPath = real;
  } catch {
    /* root or file missing */
  }

  const systemDirs = systemDirsOn ? (info?.systemDirs ?? []) : [];
  const systemCopies = systemDirs.map((d) => join(d, basename(name)));
  let systemPath: string | null = null;
  let systemLink: LinkFacts | undefined;
  for (const p of systemCopies) systemLink ??= linkFacts(p);
  // The same directories findLoader (HTTP /loaders) falls back to.
  if (!tftpPath) systemPath = systemCopies.find(isFile) ?? null;
  const chosen = tftpPath ?? (inRoot === 'symlink' && link && !link.dangling ? rootPath : null) ?? systemPath;
  const file = chosen ? fileFacts(chosen, dpkg, systemCopies, tftpPath ? readVersionsFile(root) : null) : undefined;
  if (systemLink && systemPath && systemLink.path !== systemPath) systemLink = undefined;
  return { name, keys, root, inRoot, link, tftpPath, systemPath, systemLink, file, provider };
}

/**
 * The loaders to check: each architecture's (from the dhcpLoader* settings)
 * and the helpers serve reports at start, once per file name.
 */
export function loadersToCheck(archLoaders: Record<string, string | undefined>): { name: string; keys: string[] }[] {
  const byName = new Map<string, string[]>();
  for (const [key, file] of Object.entries(archLoaders)) {
    if (!file) continue;
    byName.set(file, [...(byName.get(file) ?? []), key]);
  }
  for (const n of ESSENTIAL_LOADERS) if (!byName.has(n)) byName.set(n, []);
  return [...byName].map(([name, keys]) => ({ name, keys }));
}

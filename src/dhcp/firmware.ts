/**
 * What kind of firmware sent a request, and which loader it gets. Pure: the
 * inputs are the request's options (60 vendor class, 77 user class, 93 client
 * architecture, 97 UUID, 175 iPXE) and the configuration.
 */
import { Opt, clientArchitectures, optString, userClasses, type DhcpPacket } from './packet.js';

/** Keys of the `loaders` setting: one loader per firmware family. */
export type LoaderKey = 'bios' | 'efi32' | 'efi64' | 'arm32' | 'arm64' | 'riscv64' | 'loong64' | (string & {});

export type Loaders = { bios?: string; efi64?: string; efi32?: string; arm64?: string; arm32?: string; riscv64?: string; loong64?: string } & Record<string, string | undefined>;

export const DEFAULT_LOADERS: Loaders = { bios: 'undionly.kpxe', efi64: 'ipxe.efi' };

interface ArchInfo {
  name: string;
  /** The loader family; null when chainboot has no notion of a loader for it. */
  key: LoaderKey | null;
  /** UEFI HTTP Boot (the firmware fetches an http:// URL itself). */
  http: boolean;
}

/**
 * Processor architecture types (RFC 4578 §2.1 as corrected by its errata,
 * and the IANA registry that extends it). 7 and 9 are both x86-64 UEFI in
 * practice: EDK2 sends 7, some older firmware 9.
 */
export const ARCHITECTURES: Record<number, ArchInfo> = {
  0: { name: 'x86 BIOS', key: 'bios', http: false },
  1: { name: 'NEC/PC98', key: null, http: false },
  2: { name: 'Itanium', key: null, http: false },
  3: { name: 'DEC Alpha', key: null, http: false },
  4: { name: 'Arc x86', key: null, http: false },
  5: { name: 'Intel Lean Client', key: null, http: false },
  6: { name: 'x86 UEFI (IA32)', key: 'efi32', http: false },
  7: { name: 'x64 UEFI', key: 'efi64', http: false },
  8: { name: 'EFI Xscale', key: null, http: false },
  9: { name: 'x64 UEFI (EFI BC)', key: 'efi64', http: false },
  10: { name: 'ARM 32-bit UEFI', key: 'arm32', http: false },
  11: { name: 'ARM 64-bit UEFI', key: 'arm64', http: false },
  12: { name: 'PowerPC Open Firmware', key: null, http: false },
  13: { name: 'PowerPC ePAPR', key: null, http: false },
  14: { name: 'POWER OPAL v3', key: null, http: false },
  15: { name: 'x86 UEFI HTTP', key: 'efi32', http: true },
  16: { name: 'x64 UEFI HTTP', key: 'efi64', http: true },
  17: { name: 'EBC UEFI HTTP', key: null, http: true },
  18: { name: 'ARM 32-bit UEFI HTTP', key: 'arm32', http: true },
  19: { name: 'ARM 64-bit UEFI HTTP', key: 'arm64', http: true },
  20: { name: 'PC/AT BIOS HTTP', key: 'bios', http: true },
  21: { name: 'ARM 32-bit U-Boot', key: null, http: false },
  22: { name: 'ARM 64-bit U-Boot', key: null, http: false },
  23: { name: 'ARM 32-bit U-Boot HTTP', key: null, http: true },
  24: { name: 'ARM 64-bit U-Boot HTTP', key: null, http: true },
  25: { name: 'RISC-V 32-bit UEFI', key: null, http: false },
  26: { name: 'RISC-V 32-bit UEFI HTTP', key: null, http: true },
  27: { name: 'RISC-V 64-bit UEFI', key: 'riscv64', http: false },
  28: { name: 'RISC-V 64-bit UEFI HTTP', key: 'riscv64', http: true },
  29: { name: 'RISC-V 128-bit UEFI', key: null, http: false },
  30: { name: 'RISC-V 128-bit UEFI HTTP', key: null, http: true },
  31: { name: 's390 Basic', key: null, http: false },
  32: { name: 's390 Extended', key: null, http: false },
  33: { name: 'MIPS 32-bit UEFI', key: null, http: false },
  34: { name: 'MIPS 64-bit UEFI', key: null, http: false },
  35: { name: 'Sunway 32-bit UEFI', key: null, http: false },
  36: { name: 'Sunway 64-bit UEFI', key: null, http: false },
  37: { name: 'LoongArch 32-bit UEFI', key: null, http: false },
  38: { name: 'LoongArch 32-bit UEFI HTTP', key: null, http: true },
  39: { name: 'LoongArch 64-bit UEFI', key: 'loong64', http: false },
  40: { name: 'LoongArch 64-bit UEFI HTTP', key: 'loong64', http: true },
  41: { name: 'ARM rpiboot', key: null, http: false },
};

export function archName(arch: number | null): string {
  if (arch === null) return 'unknown';
  return ARCHITECTURES[arch]?.name ?? `arch ${arch}`;
}

export type ClientClass = 'PXEClient' | 'HTTPClient';

export interface ClientFacts {
  mac: string;
  /** Option 60 as sent. */
  vendorClass: string | null;
  /** What the reply's option 60 says, or null when this is not a PXE/HTTP boot client. */
  clientClass: ClientClass | null;
  /** Architecture used for the decision, and where it came from. */
  arch: number | null;
  archFrom: 'option93' | 'option60' | 'mac-prefix' | 'none';
  /** Arch from option 93 / option 60 as the client sent them (for the event log). */
  sentArch: number | null;
  /** A loader key forced by a MAC-prefix override, bypassing the arch table. */
  loaderOverride: string | null;
  userClasses: string[];
  /** The client is iPXE (user class "iPXE" or iPXE's option 175). */
  ipxe: boolean;
  /** The UUID/GUID as text when usable; null when absent, or junk and the MAC fallback applies. */
  uuid: string | null;
  uuidProblem: 'absent' | 'junk' | 'malformed' | null;
  /** Who the client is, for logs: its UUID when usable, else its MAC. */
  identity: string;
  problems: string[];
}

export interface FirmwareQuirks {
  /** Vendor classes to treat as PXEClient besides PXEClient and HTTPClient (prefix match), e.g. "HW-Client". */
  extraVendorClasses?: string[];
  /**
   * Per-MAC-prefix overrides: a number is the architecture to assume, a
   * string the loader key to use ('arm64', or any key of `loaders`). A
   * Raspberry Pi 5 sends arch 0 but cannot run undionly.kpxe.
   */
  macPrefixArch?: Record<string, number | string>;
  /** When the UUID is all zeros, all ones or one repeated byte, identify the client by MAC (default true). */
  junkUuidFallback?: boolean;
}

/** The Arch: field of option 60, "PXEClient:Arch:00007:UNDI:003016" (decimal). */
function archFromVendorClass(vc: string): number | null {
  const m = /:Arch:(\d{1,5})(?::|$)/.exec(vc);
  if (!m) return null;
  const n = Number(m[1]);
  return n <= 0xffff ? n : null;
}

/** Option 97 (RFC 4578 §2.3): type 0 followed by a 16-byte GUID. */
function readUuid(p: DhcpPacket): { text: string | null; problem: ClientFacts['uuidProblem']; junk: boolean } {
  const v = p.options.get(Opt.CLIENT_UUID);
  if (!v) return { text: null, problem: 'absent', junk: false };
  if (v.length !== 17 || v[0] !== 0) return { text: null, problem: 'malformed', junk: false };
  const g = v.subarray(1);
  const h = g.toString('hex');
  const text = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  // Firmware with an unset SMBIOS UUID sends zeros, ones, or one byte repeated.
  let junk = true;
  for (let i = 1; i < g.length && junk; i++) junk = g[i] === g[0];
  return { text, problem: junk ? 'junk' : null, junk };
}

function matchesPrefix(vc: string, prefix: string): boolean {
  return vc.length >= prefix.length && vc.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

export function clientFacts(p: DhcpPacket, mac: string, q: FirmwareQuirks = {}): ClientFacts {
  const problems: string[] = [];
  const vendorClass = optString(p, Opt.VENDOR_CLASS);
  let clientClass: ClientClass | null = null;
  if (vendorClass !== null) {
    if (vendorClass.startsWith('HTTPClient')) clientClass = 'HTTPClient';
    else if (vendorClass.startsWith('PXEClient')) clientClass = 'PXEClient';
    else if (q.extraVendorClasses?.length && q.extraVendorClasses.some((x) => x && matchesPrefix(vendorClass, x))) clientClass = 'PXEClient';
  }

  const { archs, problem } = clientArchitectures(p);
  if (problem) problems.push(problem);
  let arch: number | null = null;
  let archFrom: ClientFacts['archFrom'] = 'none';
  if (archs.length) {
    arch = archs[0]!;
    archFrom = 'option93';
  } else if (vendorClass) {
    arch = archFromVendorClass(vendorClass);
    if (arch !== null) archFrom = 'option60';
  }
  const sentArch = arch;

  // The longest matching MAC prefix wins.
  let loaderOverride: string | null = null;
  let best = '';
  let bestValue: number | string | undefined;
  const prefixes = q.macPrefixArch;
  if (prefixes) {
    for (const prefix in prefixes) {
      const pfx = prefix.toLowerCase();
      if (mac.startsWith(pfx) && pfx.length > best.length) {
        best = pfx;
        bestValue = prefixes[prefix];
      }
    }
  }
  if (bestValue !== undefined) {
    archFrom = 'mac-prefix';
    if (typeof bestValue === 'number') arch = bestValue;
    else loaderOverride = bestValue;
  }

  const ucs = userClasses(p);
  const ipxe = ucs.includes('iPXE') || p.options.has(Opt.IPXE_ENCAP);

  const u = readUuid(p);
  const fallback = q.junkUuidFallback ?? true;
  let uuid: string | null = u.text;
  if (u.junk && fallback) uuid = null;
  return {
    mac,
    vendorClass,
    clientClass,
    arch,
    archFrom,
    sentArch,
    loaderOverride,
    userClasses: ucs,
    ipxe,
    uuid,
    uuidProblem: u.problem,
    identity: uuid ?? mac,
    problems,
  };
}

export type HostMode = 'follow' | 'loader' | 'ignore';

export type BootChoice =
  | {
      file: string;
      /** loader: a file for TFTP; http-loader: the loader's http:// URL (UEFI HTTP Boot); boot-script: iPXE's loop-break to HTTP. */
      outcome: 'loader' | 'http-loader' | 'boot-script';
      /** Firmware family, for counters and logs: bios, efi64 … efi64-http, ipxe. */
      firmware: string;
      loaderKey: string | null;
      why: string;
    }
  | { none: 'no-loader' | 'unknown-arch'; firmware: string; why: string };

export interface BootChoiceContext {
  loaders: Loaders;
  /** http://server:port, no trailing slash. */
  httpBaseUrl: string;
  mode: Exclude<HostMode, 'ignore'>;
  /** A loader key chosen by a boot menu item, instead of the architecture's. */
  loaderKey?: string;
}

function settingFor(key: string): string {
  return `loaders.${key} (CHAINBOOT_DHCP_LOADER_${key.toUpperCase()})`;
}

/** Which boot file this client gets. */
export function chooseBootFile(f: ClientFacts, ctx: BootChoiceContext): BootChoice {
  const info = f.arch === null ? undefined : ARCHITECTURES[f.arch];
  const http = f.clientClass === 'HTTPClient' || (info?.http ?? false);

  // iPXE asking again: break the loop and send it to HTTP (unless the host is pinned to the loader).
  if (f.ipxe && ctx.mode === 'follow' && !http) {
    return { file: `${ctx.httpBaseUrl}/boot.ipxe`, outcome: 'boot-script', firmware: 'ipxe', loaderKey: null, why: `client is iPXE (${f.userClasses.includes('iPXE') ? 'user class iPXE' : 'option 175'}): loop-break to the HTTP entry script` };
  }

  let key: string | null = ctx.loaderKey ?? f.loaderOverride ?? info?.key ?? null;
  let keyWhy = ctx.loaderKey ? `menu item loader ${ctx.loaderKey}` : f.loaderOverride ? `MAC prefix override → ${f.loaderOverride}` : `arch ${f.arch ?? '?'} (${archName(f.arch)}) from ${f.archFrom}`;
  if (key === null && f.arch === null) {
    // No option 93 and no Arch: field: PXE 2.1 clients that predate RFC 4578 are BIOS.
    key = 'bios';
    keyWhy = 'no architecture sent: assuming x86 BIOS';
  }
  const firmware = `${key ?? `arch${f.arch}`}${http ? '-http' : ''}`;
  if (key === null) return { none: 'unknown-arch', firmware, why: `arch ${f.arch} (${archName(f.arch)}) has no loader family; map it with macPrefixArch or leave it to another server` };
  const loader = ctx.loaders[key];
  if (!loader) return { none: 'no-loader', firmware, why: `${keyWhy}: no loader configured for "${key}"; set ${settingFor(key)}` };

  if (http) {
    const url = /^https?:\/\//.test(loader) ? loader : `${ctx.httpBaseUrl}/loaders/${loader}`;
    return { file: url, outcome: 'http-loader', firmware, loaderKey: key, why: `UEFI HTTP Boot (${f.clientClass === 'HTTPClient' ? 'vendor class HTTPClient' : `arch ${f.arch}`}), ${keyWhy}` };
  }
  return { file: loader, outcome: 'loader', firmware, loaderKey: key, why: `${keyWhy}${f.ipxe ? '; host is pinned to the loader (dhcpMode loader)' : ''}` };
}

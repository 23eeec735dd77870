/**
 * The proxyDHCP settings as config.ts holds them (flat strings: flag, env,
 * config file) and their parsing into createProxyDhcpServer options. Pure.
 * config.ts spreads DHCP_SETTINGS into SETTINGS and adds
 * dhcpSettingsProblems() to its problem list, so a bad value fails at start
 * naming the setting.
 */
import type { HostMode, Loaders } from './firmware.js';
import type { MenuConfig, MenuItemConfig } from './proxy.js';
import type { RateLimitConfig } from './ratelimit.js';
import { isUsableServerAddress } from './address.js';
import { isIpv4 } from './packet.js';

export const DHCP_SETTINGS = [
  { key: 'advertiseIp', kind: 'string', def: '', help: 'IPv4 address proxyDHCP advertises (option 54, next-server); default: this host\'s address on the client\'s or relay\'s subnet' },
  { key: 'dhcpBindAddress', kind: 'string', def: '0.0.0.0', help: 'address the proxyDHCP sockets bind to (broadcast DISCOVERs only reach 0.0.0.0)' },
  { key: 'dhcpLoaderBios', kind: 'string', def: 'undionly.kpxe', help: 'loader for x86 BIOS PXE (arch 0)' },
  { key: 'dhcpLoaderEfi64', kind: 'string', def: 'ipxe.efi', help: 'loader for x64 UEFI (arch 7, 9; HTTP Boot 16 gets its URL): ipxe.efi or snponly.efi' },
  { key: 'dhcpLoaderEfi32', kind: 'string', def: '', help: 'loader for IA32 UEFI (arch 6, 15); unset = not answered' },
  { key: 'dhcpLoaderArm64', kind: 'string', def: '', help: 'loader for ARM64 UEFI (arch 11, 19); unset = not answered' },
  { key: 'dhcpLoaderArm32', kind: 'string', def: '', help: 'loader for ARM32 UEFI (arch 10, 18); unset = not answered' },
  { key: 'dhcpLoaderRiscv64', kind: 'string', def: '', help: 'loader for RISC-V 64 UEFI (arch 27, 28); unset = not answered' },
  { key: 'dhcpLoaderLoong64', kind: 'string', def: '', help: 'loader for LoongArch64 UEFI (arch 39, 40); unset = not answered' },
  { key: 'dhcpLoaderExtra', kind: 'string', def: '', help: 'more loader keys for macPrefixArch/menu items: key=file,… (e.g. rpi5=rpi5/ipxe.efi)' },
  { key: 'dhcpDefaultMode', kind: 'string', def: 'follow', help: 'proxyDHCP mode for MACs not in the host table: follow|loader|ignore' },
  { key: 'dhcpReplyDelayMs', kind: 'string', def: '0', help: 'quirk: wait this many ms before each reply (firmware that misses instant offers)' },
  { key: 'dhcpExtraVendorClasses', kind: 'string', def: '', help: 'quirk: more option-60 prefixes to treat as PXEClient, comma-separated (e.g. HW-Client)' },
  { key: 'dhcpMacPrefixArch', kind: 'string', def: '', help: 'quirk: per-MAC-prefix architecture (number) or loader key, e.g. d8:3a:dd=rpi5,00:11:22=11' },
  { key: 'dhcpJunkUuidFallback', kind: 'switch', def: 'on', help: 'quirk: identify clients with an all-zero/junk UUID by MAC' },
  { key: 'dhcpAnswerWithoutUuid', kind: 'switch', def: 'on', help: 'quirk: answer PXE clients that send no option 97' },
  { key: 'dhcpMenu', kind: 'string', def: 'never', help: 'PXE boot menu display: never|always|onkey (F8 during the prompt)' },
  { key: 'dhcpMenuTimeout', kind: 'string', def: '10', help: 'PXE menu prompt countdown in seconds (onkey), 1–254' },
  { key: 'dhcpMenuPrompt', kind: 'string', def: 'Press F8 for the boot menu', help: 'PXE menu prompt text' },
  { key: 'dhcpMenuItems', kind: 'string', def: '', help: 'PXE menu items "Label=netboot[:loaderKey];Label=local"; default: network boot, local disk' },
  { key: 'dhcpRateLimit', kind: 'string', def: '20/5', help: 'per-MAC limit BURST/PER_SECOND, or off' },
] as const;

export type DhcpSettingKey = (typeof DHCP_SETTINGS)[number]['key'];
export type DhcpSettingValues = { [K in DhcpSettingKey]: string };

export interface ParsedDhcpSettings {
  advertiseIp?: string;
  bindAddress: string;
  loaders: Loaders;
  defaultMode: HostMode;
  replyDelayMs: number;
  extraVendorClasses: string[];
  macPrefixArch: Record<string, number | string>;
  junkUuidFallback: boolean;
  answerWithoutUuid: boolean;
  menu?: MenuConfig;
  rateLimit: RateLimitConfig | false;
}

const LOADER_KEYS: [DhcpSettingKey, string][] = [
  ['dhcpLoaderBios', 'bios'],
  ['dhcpLoaderEfi64', 'efi64'],
  ['dhcpLoaderEfi32', 'efi32'],
  ['dhcpLoaderArm64', 'arm64'],
  ['dhcpLoaderArm32', 'arm32'],
  ['dhcpLoaderRiscv64', 'riscv64'],
  ['dhcpLoaderLoong64', 'loong64'],
];

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/** Parses the flat settings; every problem names its setting. */
export function parseDhcpSettings(v: Partial<DhcpSettingValues>): { value: ParsedDhcpSettings; problems: string[] } {
  const problems: string[] = [];
  const get = (k: DhcpSettingKey) => String(v[k] ?? DHCP_SETTINGS.find((s) => s.key === k)!.def);

  const advertiseIp = get('advertiseIp').trim() || undefined;
  if (advertiseIp && !isUsableServerAddress(advertiseIp)) problems.push(`advertiseIp ${JSON.stringify(advertiseIp)} must be a unicast IPv4 address of this host (not 0.0.0.0 or loopback)`);
  const bindAddress = get('dhcpBindAddress').trim();
  if (!isIpv4(bindAddress)) problems.push(`dhcpBindAddress ${JSON.stringify(bindAddress)} must be an IPv4 address`);

  const loaders: Loaders = {};
  for (const [k, key] of LOADER_KEYS) {
    const f = get(k).trim();
    if (f) loaders[key] = f;
  }
  for (const item of list(get('dhcpLoaderExtra'))) {
    const eq = item.indexOf('=');
    if (eq <= 0 || !/^[a-z][a-z0-9_-]*$/i.test(item.slice(0, eq))) problems.push(`dhcpLoaderExtra: "${item}" must be key=file`);
    else loaders[item.slice(0, eq)] = item.slice(eq + 1);
  }
  for (const [key, f] of Object.entries(loaders)) {
    if (f && !/^https?:\/\//.test(f) && (f.includes('..') || /[\s"'\\]/.test(f) || f.startsWith('/'))) problems.push(`loader ${key}: "${f}" must be a file name under the loader root (no .., spaces, quotes or leading /) or an http(s) URL`);
  }

  const defaultMode = get('dhcpDefaultMode').trim() as HostMode;
  if (!['follow', 'loader', 'ignore'].includes(defaultMode)) problems.push(`dhcpDefaultMode "${defaultMode}" must be follow, loader or ignore`);

  const replyDelayMs = Number(get('dhcpReplyDelayMs'));
  if (!Number.isInteger(replyDelayMs) || replyDelayMs < 0 || replyDelayMs > 10_000) problems.push(`dhcpReplyDelayMs "${get('dhcpReplyDelayMs')}" must be a whole number of ms, 0–10000`);

  const macPrefixArch: Record<string, number | string> = {};
  for (const item of list(get('dhcpMacPrefixArch'))) {
    const m = /^([0-9a-f]{2}(?:[:-][0-9a-f]{2}){0,5})=(.+)$/i.exec(item);
    if (!m) {
      problems.push(`dhcpMacPrefixArch: "${item}" must be PREFIX=ARCH or PREFIX=LOADERKEY (e.g. d8:3a:dd=arm64)`);
      continue;
    }
    const prefix = m[1]!.toLowerCase().replace(/-/g, ':');
    const val = m[2]!.trim();
    if (/^\d+$/.test(val)) {
      const n = Number(val);
      if (n > 0xffff) problems.push(`dhcpMacPrefixArch: ${prefix}=${val}: architecture must be 0–65535`);
      macPrefixArch[prefix] = n;
    } else {
      if (!loaders[val]) problems.push(`dhcpMacPrefixArch: ${prefix}=${val}: no loader "${val}" (set dhcpLoader${val[0]!.toUpperCase()}${val.slice(1)} or dhcpLoaderExtra=${val}=FILE)`);
      macPrefixArch[prefix] = val;
    }
  }

  const display = get('dhcpMenu').trim();
  let menu: MenuConfig | undefined;
  if (!['never', 'always', 'onkey'].includes(display)) problems.push(`dhcpMenu "${display}" must be never, always or onkey`);
  else if (display !== 'never') {
    const timeoutSec = Number(get('dhcpMenuTimeout'));
    if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > 254) problems.push(`dhcpMenuTimeout "${get('dhcpMenuTimeout')}" must be 1–254 seconds`);
    let items: MenuItemConfig[] | undefined;
    const rawItems = get('dhcpMenuItems').trim();
    if (rawItems) {
      items = [];
      for (const part of rawItems.split(';').map((x) => x.trim()).filter(Boolean)) {
        const m = /^(.+)=(netboot|local)(?::([a-z][a-z0-9_-]*))?$/i.exec(part);
        if (!m) {
          problems.push(`dhcpMenuItems: "${part}" must be Label=netboot[:loaderKey] or Label=local`);
          continue;
        }
        if (m[3] && !loaders[m[3]]) problems.push(`dhcpMenuItems: "${part}" uses loader "${m[3]}", which is not set`);
        items.push({ label: m[1]!.trim(), action: m[2]!.toLowerCase() as 'netboot' | 'local', ...(m[3] ? { loader: m[3] } : {}) });
      }
      if (!items.some((i) => i.action === 'netboot')) problems.push('dhcpMenuItems needs at least one netboot item');
    }
    menu = { display: display as MenuConfig['display'], timeoutSec, prompt: get('dhcpMenuPrompt'), ...(items ? { items } : {}) };
  }

  let rateLimit: RateLimitConfig | false = false;
  const rl = get('dhcpRateLimit').trim().toLowerCase();
  if (rl !== 'off') {
    const m = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(rl);
    if (!m || Number(m[1]) < 1 || Number(m[2]) <= 0) problems.push(`dhcpRateLimit "${rl}" must be BURST/PER_SECOND (e.g. 20/5) or off`);
    else rateLimit = { burst: Number(m[1]), perSecond: Number(m[2]) };
  }

  return {
    value: {
      advertiseIp,
      bindAddress,
      loaders,
      defaultMode,
      replyDelayMs,
      extraVendorClasses: list(get('dhcpExtraVendorClasses')),
      macPrefixArch,
      junkUuidFallback: get('dhcpJunkUuidFallback') !== 'off',
      answerWithoutUuid: get('dhcpAnswerWithoutUuid') !== 'off',
      menu,
      rateLimit,
    },
    problems,
  };
}

/**
 * The TFTP settings as config.ts holds them (flat strings: flag, env, config
 * file) and their parsing into createTftpServer options. Pure. config.ts
 * spreads TFTP_SETTINGS into SETTINGS and adds parseTftpSettings(cfg).problems
 * to its problem list, so a bad value fails at start naming the setting.
 * (`tftp` on|off and `tftpPort` already exist in config.ts; the root is
 * `loaderRoot`.)
 */
import { DEFAULT_BLKSIZE_MAX, MAX_BLKSIZE, MIN_BLKSIZE, parseSubnetLimitText, type SubnetLimit } from './options.js';

export const TFTP_SETTINGS = [
  { key: 'tftpFallbackPort', kind: 'string', def: '6969', help: 'TFTP port used when tftpPort cannot be bound (not root, or taken), with a warning; "off" = fail instead' },
  { key: 'tftpBindAddress', kind: 'string', def: '0.0.0.0', help: 'address the TFTP sockets bind to' },
  { key: 'tftpBlksizeMax', kind: 'string', def: String(DEFAULT_BLKSIZE_MAX), help: 'largest TFTP blksize granted (1468 = no IP fragmentation on a 1500-byte MTU)' },
  { key: 'tftpBlksizeBySubnet', kind: 'string', def: '', help: 'quirk: blksize ceiling per client subnet, CIDR=MAX,… (e.g. 10.9.0.0/16=512); the most specific wins' },
  { key: 'tftpWindowsizeMax', kind: 'string', def: '64', help: 'largest TFTP windowsize (RFC 7440) granted, 1 = off' },
  { key: 'tftpNoOptions', kind: 'switch', def: 'off', help: 'quirk: ignore all TFTP options, never send an OACK (firmware that breaks on OACK)' },
  { key: 'tftpSinglePort', kind: 'switch', def: 'off', help: 'quirk: run transfers on the TFTP port itself instead of a port per transfer (clients behind NAT/strict firewalls)' },
  { key: 'tftpCaseInsensitive', kind: 'switch', def: 'off', help: 'serve a file whose name differs only in case when the exact name is missing' },
  { key: 'tftpMaxSessions', kind: 'string', def: '1000', help: 'concurrent TFTP transfers; requests over it get an error' },
  { key: 'tftpMaxSessionsPerClient', kind: 'string', def: '32', help: 'concurrent TFTP transfers from one client address; raise it when many clients share one address (NAT with tftpSinglePort)' },
  { key: 'tftpRetries', kind: 'string', def: '5', help: 'TFTP retransmissions of a packet before a transfer is given up' },
  { key: 'tftpTimeoutMs', kind: 'string', def: '1000', help: 'TFTP retransmission timeout in ms when the client asks for none' },
] as const;

export type TftpSettingKey = (typeof TFTP_SETTINGS)[number]['key'];
export type TftpSettingValues = { [K in TftpSettingKey]: string };

export interface ParsedTftpSettings {
  fallbackPort?: number;
  host: string;
  blksizeMax: number;
  blksizeBySubnet: SubnetLimit[];
  windowsizeMax: number;
  noOptions: boolean;
  singlePort: boolean;
  caseInsensitive: boolean;
  maxSessions: number;
  maxSessionsPerClient: number;
  retries: number;
  timeoutMs: number;
}

/** Parses the flat settings; every problem names its setting. */
export function parseTftpSettings(v: Partial<Record<TftpSettingKey, string | number>>): { value: ParsedTftpSettings; problems: string[] } {
  const problems: string[] = [];
  const get = (k: TftpSettingKey) => String(v[k] ?? TFTP_SETTINGS.find((s) => s.key === k)!.def).trim();
  const int = (k: TftpSettingKey, min: number, max: number): number => {
    const raw = get(k);
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) {
      problems.push(`${k} ${JSON.stringify(raw)} must be a whole number ${min}–${max}`);
      return Number(TFTP_SETTINGS.find((s) => s.key === k)!.def);
    }
    return n;
  };
  const sw = (k: TftpSettingKey): boolean => {
    const raw = get(k).toLowerCase();
    if (['on', 'true', '1', 'yes'].includes(raw)) return true;
    if (['off', 'false', '0', 'no'].includes(raw)) return false;
    problems.push(`${k} ${JSON.stringify(raw)} must be on or off`);
    return false;
  };

  const fb = get('tftpFallbackPort').toLowerCase();
  let fallbackPort: number | undefined;
  if (fb !== '' && fb !== 'off') fallbackPort = int('tftpFallbackPort', 1, 65535);

  const host = get('tftpBindAddress');
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && !host.includes(':')) problems.push(`tftpBindAddress ${JSON.stringify(host)} must be an IP address`);

  const subnets = parseSubnetLimitText(get('tftpBlksizeBySubnet'));
  if (!subnets.ok) problems.push(...subnets.problems.map((p) => `tftpBlksizeBySubnet: ${p}`));

  return {
    value: {
      fallbackPort,
      host,
      blksizeMax: int('tftpBlksizeMax', MIN_BLKSIZE, MAX_BLKSIZE),
      blksizeBySubnet: subnets.ok ? subnets.rules : [],
      windowsizeMax: int('tftpWindowsizeMax', 1, 32768),
      noOptions: sw('tftpNoOptions'),
      singlePort: sw('tftpSinglePort'),
      caseInsensitive: sw('tftpCaseInsensitive'),
      maxSessions: int('tftpMaxSessions', 1, 1_000_000),
      maxSessionsPerClient: int('tftpMaxSessionsPerClient', 1, 1_000_000),
      retries: int('tftpRetries', 0, 100),
      timeoutMs: int('tftpTimeoutMs', 10, 255_000),
    },
    problems,
  };
}

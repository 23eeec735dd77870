/**
 * Option negotiation (RFC 2347) for blksize (RFC 2348), timeout and tsize
 * (RFC 2349) and windowsize (RFC 7440), and the per-subnet blksize limits.
 * Pure: the request's options and the server's limits in, the transfer
 * parameters and the OACK to send out.
 */
import type { OptionList } from './packet.js';

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
/** 1500 (Ethernet MTU) − 20 (IPv4) − 8 (UDP) − 4 (TFTP header): the largest block that is never fragmented on Ethernet. */
export const DEFAULT_BLKSIZE_MAX = 1468;
export const MAX_WINDOWSIZE = 65535;

export interface NegotiationLimits {
  /** Largest blksize granted to this client (already lowered for its subnet). */
  blksizeMax: number;
  /** Largest windowsize granted. */
  windowsizeMax: number;
  /** Bytes the client will receive (after netascii conversion), for tsize. */
  size: number;
  /** The server's retransmission timeout when the client asks for none. */
  defaultTimeoutMs: number;
  /** Quirk: answer as an RFC 1350 server would, ignoring every option. */
  noOptions: boolean;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Options accepted, in the client's order, with the values granted: the OACK. Empty = no OACK, start with DATA 1. */
  accepted: OptionList;
  /** Options the client sent that were not granted, with why (for the boot event log). */
  ignored: { name: string; value: string; why: string }[];
}

const DIGITS = /^\d{1,10}$/;

export function negotiate(requested: OptionList, lim: NegotiationLimits): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: lim.defaultTimeoutMs, accepted: [], ignored: [] };
  const seen = new Set<string>();
  for (const [name, value] of requested) {
    const ignore = (why: string) => out.ignored.push({ name, value, why });
    if (lim.noOptions) {
      ignore('option negotiation is off (noOptions)');
      continue;
    }
    if (seen.has(name)) {
      ignore('repeated');
      continue;
    }
    seen.add(name);
    const n = DIGITS.test(value) ? Number(value) : NaN;
    switch (name) {
      case 'blksize':
        // RFC 2348: 8–65464; the server may answer with a smaller value, never a larger one.
        if (!(n >= MIN_BLKSIZE && n <= MAX_BLKSIZE)) ignore(`not ${MIN_BLKSIZE}–${MAX_BLKSIZE}`);
        else {
          out.blksize = Math.max(MIN_BLKSIZE, Math.min(n, lim.blksizeMax));
          out.accepted.push([name, String(out.blksize)]);
        }
        break;
      case 'windowsize':
        // RFC 7440: 1–65535; the server may answer with a smaller value.
        if (!(n >= 1 && n <= MAX_WINDOWSIZE)) ignore('not 1–65535');
        else {
          out.windowsize = Math.max(1, Math.min(n, lim.windowsizeMax));
          out.accepted.push([name, String(out.windowsize)]);
        }
        break;
      case 'timeout':
        // RFC 2349: 1–255 seconds; the server accepts the value as given or ignores the option.
        if (!(n >= 1 && n <= 255)) ignore('not 1–255');
        else {
          out.timeoutMs = n * 1000;
          out.accepted.push([name, String(n)]);
        }
        break;
      case 'tsize':
        // RFC 2349: in a read request the client sends 0 and the server answers
        // with the size. Any value is taken as the question (atftp sends "enable").
        out.accepted.push([name, String(lim.size)]);
        break;
      default:
        ignore('unknown option');
    }
  }
  return out;
}

export interface SubnetLimit {
  cidr: string;
  max: number;
}

export interface ParsedSubnetLimit {
  cidr: string;
  net: number;
  mask: number;
  prefix: number;
  max: number;
}

export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    v = v * 256 + o;
  }
  return v >>> 0;
}

/** Validates blksize-per-subnet rules; every problem at once, naming the rule. */
export function parseSubnetLimits(rules: SubnetLimit[]): { ok: true; limits: ParsedSubnetLimit[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const limits: ParsedSubnetLimit[] = [];
  for (const r of rules) {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(r.cidr);
    const ip = m ? parseIpv4(m[1]!) : null;
    const prefix = m ? Number(m[2]) : NaN;
    if (ip === null || !(prefix >= 0 && prefix <= 32)) {
      problems.push(`blksize rule ${JSON.stringify(r.cidr)}: not an IPv4 CIDR like 10.1.0.0/16`);
      continue;
    }
    if (!Number.isInteger(r.max) || r.max < MIN_BLKSIZE || r.max > MAX_BLKSIZE) {
      problems.push(`blksize rule ${r.cidr}: max ${r.max} is not ${MIN_BLKSIZE}–${MAX_BLKSIZE}`);
      continue;
    }
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    limits.push({ cidr: r.cidr, net: (ip & mask) >>> 0, mask, prefix, max: r.max });
  }
  return problems.length ? { ok: false, problems } : { ok: true, limits };
}

/**
 * Text form for a config setting: "10.0.0.0/8=1024,192.168.7.0/24=512".
 * Empty text = no rules.
 */
export function parseSubnetLimitText(text: string): { ok: true; rules: SubnetLimit[] } | { ok: false; problems: string[] } {
  const rules: SubnetLimit[] = [];
  const problems: string[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(\d+)$/.exec(part);
    if (!m) problems.push(`blksize rule ${JSON.stringify(part)}: expected CIDR=MAX, e.g. 10.1.0.0/16=1024`);
    else rules.push({ cidr: m[1]!, max: Number(m[2]) });
  }
  if (problems.length) return { ok: false, problems };
  const checked = parseSubnetLimits(rules);
  return checked.ok ? { ok: true, rules } : checked;
}

/**
 * The blksize ceiling for a client: the most specific matching rule, else the
 * global maximum. A rule may be above the global maximum (a jumbo-frame
 * segment) as well as below it (a VPN or a firmware that breaks on big blocks).
 */
export function blksizeMaxFor(clientIp: string, limits: ParsedSubnetLimit[], globalMax: number): number {
  // IPv4-mapped IPv6 addresses arrive when a socket is dual-stack.
  const ip = parseIpv4(clientIp.startsWith('::ffff:') ? clientIp.slice(7) : clientIp);
  if (ip === null) return globalMax;
  let best: ParsedSubnetLimit | null = null;
  for (const l of limits) {
    if (((ip & l.mask) >>> 0) === l.net && (!best || l.prefix > best.prefix)) best = l;
  }
  return best ? best.max : globalMax;
}

/**
 * Sites, apart from storage: what a site definition may contain (checked at
 * the door, every problem named) and which site a request belongs to (pure:
 * the relay address, then the client address, longest prefix first).
 */
import { z } from 'zod';
import { parseIpv4 } from '../dhcp/packet.js';
import { checkAssetRef, describeZodError, hasControl } from '../validate.js';
import { InvalidInputError } from '../errors.js';
import type { Site } from '../db/schema.js';

export const MENU_DISPLAYS = ['never', 'always', 'onkey'] as const;
/** Loader families a site may override (as the server's `loaders` setting). */
export const LOADER_KEYS = ['bios', 'efi32', 'efi64', 'arm32', 'arm64', 'riscv64', 'loong64'] as const;
/** defaultProfile value meaning "boot the local disk" even when the server has a default. */
export const LOCAL_DEFAULT = '-';

export interface Cidr {
  text: string;
  net: number;
  mask: number;
  prefix: number;
}

/** "10.20.0.0/16" → its network and mask; host bits set ("10.20.1.5/16") are refused, as a likely typo. */
export function parseCidr(text: string): Cidr | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIpv4(m[1]!) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || ip === null || !(prefix >= 0 && prefix <= 32)) return `${JSON.stringify(text.slice(0, 40))} is not an IPv4 CIDR like 10.20.0.0/16`;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if (((ip & mask) >>> 0) !== ip) return `${text} has host bits set (did you mean ${numberToIp((ip & mask) >>> 0)}/${prefix}?)`;
  return { text, net: ip, mask, prefix };
}

function numberToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const baseUrlSchema = z.string().superRefine((v, ctx) => {
  if (v === '') return;
  if (!/^https?:\/\//i.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL (or empty for the centre)' });
    return;
  }
  const problem = checkAssetRef(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `URL ${problem}` });
  else if (/[?#]/.test(v)) ctx.addIssue({ code: 'custom', message: 'must not carry a query or fragment: paths are appended to it' });
});

const siteNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'site name must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit');

const loaderNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'loader must be a file name in the loader directory (letters, digits, ". _ + -"), e.g. snponly.efi');

export const siteInputSchema = z
  .object({
    name: siteNameSchema,
    description: z.string().max(500).refine((v) => !hasControl(v), 'description must be one line without control characters').default(''),
    subnets: z
      .array(z.string())
      .max(256)
      .default([])
      .superRefine((list, ctx) => {
        list.forEach((s, i) => {
          const c = parseCidr(s);
          if (typeof c === 'string') ctx.addIssue({ code: 'custom', path: [i], message: c });
        });
      }),
    relays: z
      .array(z.string())
      .max(256)
      .default([])
      .superRefine((list, ctx) => {
        list.forEach((s, i) => {
          const n = parseIpv4(s);
          if (n === null || n === 0) ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(s.slice(0, 40))} is not a relay's IPv4 address` });
        });
      }),
    assetBaseUrl: baseUrlSchema.default(''),
    bootBaseUrl: baseUrlSchema.default(''),
    loaders: z.partialRecord(z.enum(LOADER_KEYS), loaderNameSchema).default({}),
    defaultProfile: z
      .string()
      .regex(/^(|-|[A-Za-z0-9][A-Za-z0-9._+-]{0,63})$/, 'defaultProfile must be a profile name, "-" (boot the local disk) or empty (the server\'s default)')
      .default(''),
    menuDisplay: z.enum(['', ...MENU_DISPLAYS]).default(''),
  })
  .strict();

export type SiteInput = z.infer<typeof siteInputSchema>;

export function parseSiteInput(input: unknown): SiteInput {
  const r = siteInputSchema.safeParse(input);
  if (!r.success) throw new InvalidInputError(`site: ${describeZodError(r.error)}`);
  const s = r.data;
  s.assetBaseUrl = s.assetBaseUrl.replace(/\/+$/, '');
  s.bootBaseUrl = s.bootBaseUrl.replace(/\/+$/, '');
  return s;
}

/** A site's input fields from a stored row (for PATCH: the given fields over these). */
export function siteToInput(s: Site): SiteInput {
  return {
    name: s.name,
    description: s.description,
    subnets: s.subnets,
    relays: s.relays,
    assetBaseUrl: s.assetBaseUrl,
    bootBaseUrl: s.bootBaseUrl,
    loaders: s.loaders,
    defaultProfile: s.defaultProfile,
    menuDisplay: s.menuDisplay as SiteInput['menuDisplay'],
  };
}

/** Where a request came from, as far as site matching cares. */
export interface SiteHints {
  /** The DHCP relay's address (giaddr), when the request was relayed. */
  relay?: string | null;
  /** The client's own address (ciaddr, or the source of an HTTP/TFTP request). */
  client?: string | null;
}

export interface SiteMatch {
  site: Site;
  /** How it matched, for logs and events: "relay 10.20.0.1" or "subnet 10.20.0.0/16". */
  by: string;
}

/**
 * Which site a request belongs to: a site that lists the relay address, else
 * the most specific subnet holding the relay address, else the most specific
 * subnet holding the client address; undefined when none does (the centre's
 * own LAN). Built once per change of the site list, asked per request.
 */
export function siteMatcher(sites: Site[]): (hints: SiteHints) => SiteMatch | undefined {
  const relays = new Map<number, Site>();
  const nets: { cidr: Cidr; site: Site }[] = [];
  for (const site of sites) {
    for (const r of site.relays) {
      const n = parseIpv4(r);
      if (n !== null && !relays.has(n)) relays.set(n, site);
    }
    for (const s of site.subnets) {
      const c = parseCidr(s);
      if (typeof c !== 'string') nets.push({ cidr: c, site });
    }
  }
  // Most specific first; equal prefixes keep the order sites were listed in (by name).
  nets.sort((a, b) => b.cidr.prefix - a.cidr.prefix);
  const inNets = (ip: number): { cidr: Cidr; site: Site } | undefined => nets.find((n) => ((ip & n.cidr.mask) >>> 0) === n.cidr.net);
  return (hints) => {
    const relay = hints.relay && hints.relay !== '0.0.0.0' ? parseIpv4(hints.relay) : null;
    if (relay !== null) {
      const byRelay = relays.get(relay);
      if (byRelay) return { site: byRelay, by: `relay ${hints.relay}` };
      const n = inNets(relay);
      if (n) return { site: n.site, by: `relay ${hints.relay} in ${n.cidr.text}` };
    }
    const client = hints.client && hints.client !== '0.0.0.0' ? parseIpv4(hints.client.replace(/^::ffff:/i, '')) : null;
    if (client !== null) {
      const n = inNets(client);
      if (n) return { site: n.site, by: `client in ${n.cidr.text}` };
    }
    return undefined;
  };
}

/** Problems that only show across sites: the same relay or subnet claimed twice. */
export function siteConflicts(candidate: SiteInput, others: Site[]): string[] {
  const problems: string[] = [];
  for (const o of others) {
    if (o.name === candidate.name) continue;
    for (const r of candidate.relays) if (o.relays.includes(r)) problems.push(`relay ${r} already belongs to site "${o.name}"`);
    for (const s of candidate.subnets) if (o.subnets.includes(s)) problems.push(`subnet ${s} already belongs to site "${o.name}"`);
  }
  return problems;
}

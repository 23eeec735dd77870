/**
 * Which address will clients be told, and is it on a real interface? The
 * interfaces come from `ip -j addr` (which, unlike os.networkInterfaces(),
 * also lists interfaces that are down), else from Node. The verdict is pure.
 */
import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { isUsableServerAddress } from '../dhcp/address.js';
import { isIpv4 } from '../dhcp/packet.js';
import type { Check } from './check.js';

export interface InterfaceFacts {
  name: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier present (LOWER_UP); null when unknown. */
  carrier: boolean | null;
  loopback: boolean;
  mac: string | null;
  addresses: { address: string; prefixlen: number }[];
}

interface IpJsonLink {
  ifname?: string;
  flags?: string[];
  address?: string;
  link_type?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Parses `ip -j addr show` output (IPv4 addresses only). */
export function parseIpAddrJson(text: string): InterfaceFacts[] {
  const links = JSON.parse(text) as IpJsonLink[];
  if (!Array.isArray(links)) throw new Error('ip -j addr: not a JSON array');
  return links
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => ({
      name: l.ifname!,
      up: l.flags?.includes('UP') ?? false,
      carrier: l.flags ? l.flags.includes('LOWER_UP') : null,
      loopback: (l.flags?.includes('LOOPBACK') ?? false) || l.link_type === 'loopback',
      mac: l.address && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(l.address) ? l.address.toLowerCase() : null,
      addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local && isIpv4(a.local)).map((a) => ({ address: a.local!, prefixlen: a.prefixlen ?? 32 })),
    }));
}

function prefixFromNetmask(mask: string): number {
  return mask.split('.').reduce((n, o) => n + (Number(o) >>> 0).toString(2).replace(/0/g, '').length, 0);
}

export function readInterfaces(): InterfaceFacts[] {
  try {
    return parseIpAddrJson(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }));
  } catch {
    // No iproute2: Node lists only interfaces that are up and running.
    const out: InterfaceFacts[] = [];
    for (const [name, addrs] of Object.entries(networkInterfaces())) {
      const v4 = (addrs ?? []).filter((a) => a.family === 'IPv4');
      out.push({ name, up: true, carrier: null, loopback: (addrs ?? []).some((a) => a.internal), mac: addrs?.[0]?.mac && addrs[0].mac !== '00:00:00:00:00:00' ? addrs[0].mac : null, addresses: v4.map((a) => ({ address: a.address, prefixlen: prefixFromNetmask(a.netmask) })) });
    }
    return out;
  }
}

export interface AddressInput {
  /** advertiseIp setting ('' = auto). */
  advertiseIp: string;
  /** baseUrl setting ('' = http://<address>:<httpPort>). */
  baseUrl: string;
  httpPort: number;
  /** What serve's base URL would use without advertiseIp (config.ts detectAddress()). */
  detected: string;
  dhcpOn: boolean;
  interfaces: InterfaceFacts[];
}

export interface Advertised {
  address: string | null;
  iface: InterfaceFacts | null;
  how: 'configured' | 'detected' | 'none';
}

export function findInterface(ifaces: InterfaceFacts[], address: string): InterfaceFacts | null {
  return ifaces.find((i) => i.addresses.some((a) => a.address === address)) ?? null;
}

/** Up, non-loopback interfaces with a usable IPv4 address: the subnets clients could be on. */
export function candidateInterfaces(ifaces: InterfaceFacts[]): InterfaceFacts[] {
  return ifaces.filter((i) => i.up && !i.loopback && i.addresses.some((a) => isUsableServerAddress(a.address)));
}

export function advertisedAddress(i: Pick<AddressInput, 'advertiseIp' | 'detected' | 'interfaces'>): Advertised {
  if (i.advertiseIp) return { address: i.advertiseIp, iface: findInterface(i.interfaces, i.advertiseIp), how: 'configured' };
  if (i.detected && isUsableServerAddress(i.detected)) return { address: i.detected, iface: findInterface(i.interfaces, i.detected), how: 'detected' };
  return { address: null, iface: null, how: 'none' };
}

const subnets = (list: InterfaceFacts[]) => list.flatMap((i) => i.addresses.filter((a) => isUsableServerAddress(a.address)).map((a) => `${i.name} ${a.address}/${a.prefixlen}`)).join(', ');

export function checkAddress(i: AddressInput): Check {
  const adv = advertisedAddress(i);
  const candidates = candidateInterfaces(i.interfaces);
  const baseUrl = i.baseUrl || (adv.address ? `http://${adv.address}:${i.httpPort}` : `http://127.0.0.1:${i.httpPort}`);
  const data = { advertised: adv.address, how: adv.how, iface: adv.iface?.name ?? null, baseUrl, candidates: candidates.map((c) => c.name) };
  const base = { id: 'address', name: 'Advertised address', data };
  const setIt = (list: InterfaceFacts[]) => `set --advertise-ip (CHAINBOOT_ADVERTISE_IP) to this host's address on the clients' network${list.length ? ` (${subnets(list)})` : ''}`;

  if (adv.how === 'none') {
    return { ...base, status: 'fail', detail: 'this host has no non-loopback IPv4 address: clients cannot reach it (boot scripts would point at 127.0.0.1)', fix: 'give an interface an IPv4 address on the clients\' network (with host networking in a container: network_mode: host)' };
  }
  const where = adv.iface ? `${adv.iface.name}` : null;
  const state = adv.iface ? `${adv.iface.up ? 'up' : 'DOWN'}${adv.iface.carrier === false ? ', no carrier' : ''}` : '';
  const lines = [`${adv.address} (${adv.how === 'configured' ? 'advertiseIp' : 'auto-detected'}${where ? ` on ${where}, ${state}` : ''}); boot scripts point at ${baseUrl}`];
  if (i.baseUrl) lines.push(`baseUrl is set: HTTP URLs use ${i.baseUrl}${i.dhcpOn ? `; proxyDHCP still advertises ${adv.address} for TFTP` : ''}`);

  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(baseUrl)) {
    return { ...base, status: 'fail', detail: [...lines, 'the base URL is a loopback address: other machines cannot fetch from it'].join('\n'), fix: 'set --base-url to an address clients reach, or leave it unset' };
  }
  if (!adv.iface) {
    return { ...base, status: 'fail', detail: [...lines, `${adv.address} is on none of this host's interfaces${candidates.length ? ` (${subnets(candidates)})` : ''}`].join('\n'), fix: setIt(candidates) };
  }
  if (adv.iface.loopback) return { ...base, status: 'fail', detail: [...lines, `${adv.iface.name} is a loopback interface`].join('\n'), fix: setIt(candidates) };
  if (!adv.iface.up || adv.iface.carrier === false) {
    return { ...base, status: 'fail', detail: [...lines, `${adv.iface.name} is ${adv.iface.up ? 'up but has no carrier (cable, switch port, VM link?)' : 'down'}`].join('\n'), fix: adv.iface.up ? `check ${adv.iface.name}'s link (ip link show ${adv.iface.name})` : `ip link set ${adv.iface.name} up` };
  }
  if (adv.how === 'detected' && candidates.length > 1) {
    lines.push(`several candidate subnets: ${subnets(candidates)}`);
    lines.push(`proxyDHCP answers each client with the address on its subnet, but boot scripts use ${adv.address} for every client`);
    return { ...base, status: 'warn', detail: lines.join('\n'), fix: setIt(candidates) };
  }
  return { ...base, status: 'ok', detail: lines.join('\n') };
}

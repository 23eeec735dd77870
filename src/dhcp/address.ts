/**
 * Which of this host's addresses a reply advertises (option 54, siaddr).
 * Node's dgram does not say on which interface a packet arrived (no
 * IP_PKTINFO), so the address comes from configuration, or from the local
 * interface whose subnet holds the relay, the client or the sender. Never
 * 0.0.0.0 and never a loopback address: firmware would try to fetch from itself.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { ipToNumber, isIpv4, parseIpv4 } from './packet.js';

export interface LocalAddress {
  address: string;
  netmask: string;
  iface: string;
}

interface Subnet extends LocalAddress {
  net: number;
  mask: number;
}

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

export function isUsableServerAddress(ip: string): boolean {
  if (!isIpv4(ip)) return false;
  const n = ipToNumber(ip);
  return n !== 0 && n >>> 24 !== 127 && n !== 0xffffffff && n >>> 28 !== 14; // not any, loopback, broadcast, multicast
}

/** The non-loopback IPv4 addresses of an os.networkInterfaces() table, in a stable order. */
export function localAddresses(table: InterfaceTable): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const iface of Object.keys(table).sort()) {
    for (const a of table[iface] ?? []) {
      if (a.family !== 'IPv4' || a.internal || !isUsableServerAddress(a.address)) continue;
      out.push({ address: a.address, netmask: a.netmask, iface });
    }
  }
  return out;
}

const subnets = new WeakMap<LocalAddress, Subnet>();
function subnetOf(a: LocalAddress): Subnet | null {
  let s = subnets.get(a);
  if (!s) {
    const mask = parseIpv4(a.netmask);
    if (mask === null) return null;
    s = { ...a, mask, net: (ipToNumber(a.address) & mask) >>> 0 };
    subnets.set(a, s);
  }
  return s;
}

function inSubnet(ip: number, a: LocalAddress): boolean {
  const s = subnetOf(a);
  return !!s && ((ip & s.mask) >>> 0) === s.net;
}

export type AddressChoice =
  | { address: string; how: 'configured' | 'relay-subnet' | 'client-subnet' | 'sender-subnet' | 'only-interface' | 'first-interface' }
  | { error: string };

export interface AddressHints {
  giaddr?: string;
  ciaddr?: string;
  /** The packet's source address (the relay's, or the client's on port 4011). */
  source?: string;
}

export function pickServerAddress(configured: string | undefined, hints: AddressHints, locals: LocalAddress[]): AddressChoice {
  if (configured) {
    if (!isUsableServerAddress(configured)) return { error: `advertise address ${configured} is not a usable unicast IPv4 address (not 0.0.0.0, loopback, broadcast or multicast)` };
    return { address: configured, how: 'configured' };
  }
  // The relay's subnet, then the client's, then the sender's (this runs per packet: no arrays built).
  const relay = onLocalSubnet(hints.giaddr, locals);
  if (relay) return { address: relay.address, how: 'relay-subnet' };
  const client = onLocalSubnet(hints.ciaddr, locals);
  if (client) return { address: client.address, how: 'client-subnet' };
  const sender = onLocalSubnet(hints.source, locals);
  if (sender) return { address: sender.address, how: 'sender-subnet' };
  if (locals.length === 1) return { address: locals[0]!.address, how: 'only-interface' };
  if (locals.length > 1) return { address: locals[0]!.address, how: 'first-interface' };
  return { error: 'this host has no non-loopback IPv4 address to advertise; set advertiseIp (CHAINBOOT_ADVERTISE_IP)' };
}

function onLocalSubnet(ip: string | undefined, locals: LocalAddress[]): LocalAddress | undefined {
  if (!ip || ip === '0.0.0.0') return undefined;
  const n = parseIpv4(ip);
  if (n === null) return undefined;
  for (const a of locals) if (inSubnet(n, a)) return a;
  return undefined;
}

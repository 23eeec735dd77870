/**
 * Which of this host's addresses a reply advertises (option 54, siaddr).
 * Node's dgram does not say on which interface a packet arrived (no
 * IP_PKTINFO), so the address comes from configuration, or from the local
 * interface whose subnet holds the relay, the client or the sender. Never
 * 0.0.0.0 and never a loopback address: firmware would try to fetch from itself.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import dgram from 'node:dgram';
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
  | { address: string; how: 'configured' | 'relay-subnet' | 'client-subnet' | 'sender-subnet' | 'relay-route' | 'only-interface' | 'first-interface' }
  | { error: string };

export interface AddressHints {
  giaddr?: string;
  ciaddr?: string;
  /** The packet's source address (the relay's, or the client's on port 4011). */
  source?: string;
  /** For a relay on no local subnet: the address this host sends from to reach it (routeSource). */
  relayRoute?: string | null;
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
  // A relay across routers: the address the routing table sends its replies from.
  if (hints.relayRoute && isUsableServerAddress(hints.relayRoute)) return { address: hints.relayRoute, how: 'relay-route' };
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

/** True when `ip` is on the subnet of one of these local addresses. */
export function isOnLocalSubnet(ip: string | undefined, locals: LocalAddress[]): boolean {
  return onLocalSubnet(ip, locals) !== undefined;
}

/**
 * The local address this host sends from to reach `ip`, as the routing table
 * says: a UDP socket's connect() picks the route and source address and sends
 * nothing. null when there is no route (or `ip` is not IPv4).
 */
export function routeSource(ip: string): Promise<string | null> {
  return new Promise((resolve) => {
    if (!isIpv4(ip)) return resolve(null);
    const sock = dgram.createSocket('udp4');
    const done = (a: string | null) => {
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      resolve(a);
    };
    sock.once('error', () => done(null));
    try {
      // Port 9 (discard) is never sent to: connect() on UDP only binds the route.
      sock.connect(9, ip, () => {
        try {
          done(sock.address().address);
        } catch {
          done(null);
        }
      });
    } catch {
      done(null);
    }
  });
}

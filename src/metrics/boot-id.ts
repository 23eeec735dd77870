/**
 * Boot correlation ids: one short id per boot of one machine, so its DHCP,
 * TFTP and HTTP steps can be picked out of the logs and the boot event log
 * together (`boot` in log lines and in event detail).
 *
 * A boot starts with a PXE firmware DISCOVER (not iPXE's: iPXE asking again
 * is step 3 of the same boot), or with any step of a machine that has been
 * quiet for `quietMs`. Steps that carry no MAC (TFTP, assets, the entry
 * script) find their boot by client address: the address is learnt from the
 * DHCP REQUEST the firmware broadcasts to the site's server (option 50), from
 * the port-4011 REQUEST, and from HTTP requests that name the MAC. A machine
 * whose address is not known yet (the site's DHCP server points it straight
 * at our TFTP) gets a boot keyed by its address, which the MAC takes over at
 * its first HTTP request.
 *
 * Cheap by construction, since proxyDHCP asks for every PXE packet of a boot
 * storm: the state lives in fixed-size typed arrays (below), so remembering
 * 50,000 boots allocates nothing per boot but the id string handed out. (The
 * first version kept Maps of small objects: under a storm of new machines the
 * garbage collector's work for them added a quarter to the cost of answering
 * a DISCOVER.)
 */
import { randomBytes } from 'node:crypto';

export interface BootCorrelatorOptions {
  /** A machine quiet this long starts a new boot at its next step (default 15 min). */
  quietMs?: number;
  /**
   * Boots and addresses to hold (each; default 50,000). The tables get twice
   * as many slots (rounded up to a power of two), so a boot is pushed out
   * only by newer ones landing in its bucket: rarely below this many.
   */
  maxEntries?: number;
  now?: () => number;
}

const WAYS = 16;
/** Slots a table starts with (it doubles as it fills, up to its maximum). */
const START_SLOTS = 1024;
const TWO32 = 2 ** 32;
/** Boots of an address without a MAC are keyed above every MAC (48 bits). */
const IP_BOOT = 2 ** 48;

/**
 * A set-associative table of number keys (> 0; 0 marks a free slot): a key
 * may sit in one of the WAYS slots of its bucket. Starts small and doubles
 * when a new key finds its bucket full, up to `maxSlots`; from then on a full
 * bucket gives up its least recently used slot. Callers keep their values in
 * arrays indexed by slot (`onGrow` moves them).
 */
class Slots {
  keys: Float64Array;
  /** When each slot was last used, in uses of this table (not in time: a storm puts many in one millisecond). */
  used: Float64Array;
  size = 0;
  private uses = 0;
  private buckets: number;

  constructor(
    private readonly maxSlots: number,
    private readonly onGrow: (from: number[], to: number[], slots: number) => void,
  ) {
    const n = Math.min(START_SLOTS, maxSlots);
    this.keys = new Float64Array(n);
    this.used = new Float64Array(n);
    this.buckets = n / WAYS;
  }

  private bucket(key: number): number {
    // key < 2^53: its low and high 32 bits, mixed (murmur3's finalizer).
    let h = (key >>> 0) ^ Math.imul(Math.floor(key / TWO32), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return ((h ^ (h >>> 16)) & (this.buckets - 1)) * WAYS;
  }

  find(key: number): number {
    const b = this.bucket(key);
    const keys = this.keys;
    for (let i = b; i < b + WAYS; i++) if (keys[i] === key) return i;
    return -1;
  }

  touch(slot: number): void {
    this.used[slot] = ++this.uses;
  }

  /** The slot for a new key: a free one (growing the table if need be), or its bucket's least recently used (whose key is replaced). */
  claim(key: number, used = ++this.uses): number {
    for (;;) {
      const b = this.bucket(key);
      const keys = this.keys;
      let victim = b;
      for (let i = b; i < b + WAYS; i++) {
        if (keys[i] === 0) {
          keys[i] = key;
          this.used[i] = used;
          this.size++;
          return i;
        }
        if (this.used[i]! < this.used[victim]!) victim = i;
      }
      if (this.keys.length < this.maxSlots) {
        this.grow();
        continue;
      }
      keys[victim] = key;
      this.used[victim] = used;
      return victim;
    }
  }

  free(slot: number): void {
    if (this.keys[slot] === 0) return;
    this.keys[slot] = 0;
    this.size--;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldUsed = this.used;
    const n = oldKeys.length * 2;
    this.keys = new Float64Array(n);
    this.used = new Float64Array(n);
    this.buckets = n / WAYS;
    this.size = 0;
    const from: number[] = [];
    const to: number[] = [];
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === 0) continue;
      const s = this.claim(k, oldUsed[i]!);
      from.push(i);
      to.push(s);
    }
    this.onGrow(from, to, n);
  }
}

/** Hex digit values by character code (-1: not a hex digit). */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}
const hexValue = (c: number): number => (c < 128 ? HEX_VALUE[c]! : -1);
/** Two hex characters per byte value: formatting an id is four lookups (toString(16) + padStart cost 400 ns). */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A MAC (any separators, either case) as a 48-bit number + 1; another string hashed into that range. */
function macKey(mac: string): number {
  // The form every caller passes (aa:bb:cc:dd:ee:ff), read at fixed places.
  if (mac.length === 17) {
    const d0 = hexValue(mac.charCodeAt(0)), d1 = hexValue(mac.charCodeAt(1)), d2 = hexValue(mac.charCodeAt(3)), d3 = hexValue(mac.charCodeAt(4));
    const d4 = hexValue(mac.charCodeAt(6)), d5 = hexValue(mac.charCodeAt(7)), d6 = hexValue(mac.charCodeAt(9)), d7 = hexValue(mac.charCodeAt(10));
    const d8 = hexValue(mac.charCodeAt(12)), d9 = hexValue(mac.charCodeAt(13)), d10 = hexValue(mac.charCodeAt(15)), d11 = hexValue(mac.charCodeAt(16));
    if ((d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7 | d8 | d9 | d10 | d11) >= 0) {
      const hi = (d0 << 12) | (d1 << 8) | (d2 << 4) | d3;
      const lo = ((d4 << 28) | (d5 << 24) | (d6 << 20) | (d7 << 16) | (d8 << 12) | (d9 << 8) | (d10 << 4) | d11) >>> 0;
      return hi * TWO32 + lo + 1;
    }
  }
  let hi = 0;
  let lo = 0;
  let digits = 0;
  for (let i = 0; i < mac.length; i++) {
    const v = hexValue(mac.charCodeAt(i));
    if (v < 0) continue;
    if (digits < 4) hi = hi * 16 + v;
    else lo = lo * 16 + v;
    digits++;
  }
  if (digits === 12) return hi * TWO32 + lo + 1;
  return (stringHash(mac) % (IP_BOOT - 1)) + 1;
}

/** An IPv4 address as its 32-bit number + 1; anything else (IPv6) hashed above that (a collision only mislabels). */
function ipKey(ip: string): number {
  let n = 0;
  let part = 0;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return TWO32 + 1 + stringHash(ip);
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return TWO32 + 1 + stringHash(ip);
  }
  if (dots !== 3 || digits === 0 || part > 255) return TWO32 + 1 + stringHash(ip);
  return n * 256 + part + 1;
}

/** FNV-1a, 32 bits. */
function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function macText(key: number): string {
  const n = key - 1;
  const hex = Math.floor(n / TWO32).toString(16).padStart(4, '0') + (n % TWO32).toString(16).padStart(8, '0');
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

function slotsFor(entries: number): number {
  let n = WAYS * 4;
  while (n < 2 * entries) n *= 2;
  return n;
}

export type BootCorrelator = ReturnType<typeof createBootCorrelator>;

export function createBootCorrelator(opts: BootCorrelatorOptions = {}) {
  const quietMs = opts.quietMs ?? 15 * 60_000;
  const maxSlots = slotsFor(opts.maxEntries ?? 50_000);
  const now = opts.now ?? Date.now;
  let started = 0;

  // Boots: key (MAC, or IP_BOOT + address key) → id, the xid that started it (-1: none), the time of its last step.
  const first = Math.min(START_SLOTS, maxSlots);
  let bootId = new Uint32Array(first);
  let bootXid = new Float64Array(first);
  let bootLast = new Float64Array(first);
  const boots = new Slots(maxSlots, (from, to, n) => {
    const id = new Uint32Array(n);
    const xid = new Float64Array(n);
    const last = new Float64Array(n);
    for (let i = 0; i < from.length; i++) {
      id[to[i]!] = bootId[from[i]!]!;
      xid[to[i]!] = bootXid[from[i]!]!;
      last[to[i]!] = bootLast[from[i]!]!;
    }
    bootId = id;
    bootXid = xid;
    bootLast = last;
  });
  // Addresses: address key → MAC key.
  let ipMac = new Float64Array(first);
  const ips = new Slots(maxSlots, (from, to, n) => {
    const mac = new Float64Array(n);
    for (let i = 0; i < from.length; i++) mac[to[i]!] = ipMac[from[i]!]!;
    ipMac = mac;
  });

  let pool = randomBytes(4096);
  let at = 0;
  function newId(): number {
    if (at + 4 > pool.length) {
      pool = randomBytes(4096);
      at = 0;
    }
    const n = pool.readUInt32BE(at);
    at += 4;
    return n;
  }
  const text = (id: number) => HEX2[id >>> 24]! + HEX2[(id >>> 16) & 255]! + HEX2[(id >>> 8) & 255]! + HEX2[id & 255]!;

  /** The slot of a boot that is still going (seen within quietMs), or -1. */
  function live(key: number, t: number): number {
    const s = boots.find(key);
    return s >= 0 && t - bootLast[s]! <= quietMs ? s : -1;
  }

  /** A step of the boot in slot s at time t. */
  function seen(s: number, t: number): void {
    bootLast[s] = t;
    boots.touch(s);
  }

  function start(key: number, xid: number, t: number): number {
    let s = boots.find(key);
    if (s < 0) s = boots.claim(key);
    else boots.touch(s);
    bootLast[s] = t;
    bootId[s] = newId();
    bootXid[s] = xid;
    started++;
    return s;
  }

  function learn(ip: string, mac: number): void {
    const k = ipKey(ip);
    let s = ips.find(k);
    if (s < 0) s = ips.claim(k);
    else ips.touch(s);
    ipMac[s] = mac;
  }

  /** The MAC key behind an address (0: none); `use` marks the address as in use. */
  function macOf(ip: string, use: boolean): number {
    const s = ips.find(ipKey(ip));
    if (s < 0) return 0;
    if (use) ips.touch(s);
    return ipMac[s]!;
  }

  /** The boot of a step that names its MAC; an address-keyed boot of that address is taken over. */
  function forMac(mac: number, ip: string | undefined, t: number): number {
    let s = live(mac, t);
    if (s < 0 && ip) {
      const a = live(IP_BOOT + ipKey(ip), t);
      if (a >= 0) {
        const id = bootId[a]!;
        boots.free(a);
        s = start(mac, -1, t);
        started--; // the same boot, under its MAC now
        bootId[s] = id;
      }
    }
    if (s >= 0) seen(s, t);
    else s = start(mac, -1, t);
    if (ip) learn(ip, mac);
    return bootId[s]!;
  }

  return {
    /**
     * A DHCP packet of a PXE client. `firmwareDiscover`: a DISCOVER from
     * firmware (not iPXE), which starts a boot unless it retransmits the
     * transaction that started the current one. `ip`: the client's address
     * when the packet tells it (ciaddr, option 50, the 4011 source).
     */
    dhcp(mac: string, xid: number, firmwareDiscover: boolean, ip?: string): string {
      const t = now();
      const k = macKey(mac);
      let s = live(k, t);
      if (s < 0 || (firmwareDiscover && bootXid[s] !== xid)) s = start(k, firmwareDiscover ? xid : -1, t);
      else seen(s, t);
      if (ip) learn(ip, k);
      return text(bootId[s]!);
    },

    /** An HTTP step that names the MAC (boot script, pxelinux config, per-host file, task callback). */
    step(mac: string, ip?: string): string {
      return text(forMac(macKey(mac), ip, now()));
    },

    /** A step known only by client address (TFTP, assets, the entry script). */
    forIp(ip: string | undefined): string | undefined {
      if (!ip) return undefined;
      const t = now();
      const mac = macOf(ip, true);
      if (mac) return text(forMac(mac, undefined, t));
      const k = IP_BOOT + ipKey(ip);
      let s = live(k, t);
      if (s >= 0) seen(s, t);
      else s = start(k, -1, t);
      return text(bootId[s]!);
    },

    /** The current boot of a MAC or address, without extending or starting one (for log lines). */
    peek(mac: string | undefined, ip?: string): string | undefined {
      const t = now();
      const m = mac ? macKey(mac) : ip ? macOf(ip, false) : 0;
      const s = m ? live(m, t) : ip ? live(IP_BOOT + ipKey(ip), t) : -1;
      return s >= 0 ? text(bootId[s]!) : undefined;
    },

    /** Remember which MAC uses an address (bounded: the least recently used address of a full bucket goes). */
    learnIp(ip: string, mac: string): void {
      learn(ip, macKey(mac));
    },

    /** The MAC last seen using this address, by DHCP or HTTP (lower case, colons). */
    macForIp(ip: string | undefined): string | undefined {
      if (!ip) return undefined;
      const m = macOf(ip, false);
      return m && m < IP_BOOT ? macText(m) : undefined;
    },

    /** Boots started since creation, and boots/addresses held now. */
    get stats(): { started: number; boots: number; addresses: number } {
      return { started, boots: boots.size, addresses: ips.size };
    },
  };
}

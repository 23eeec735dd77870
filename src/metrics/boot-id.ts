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
 * Cheap by construction: DHCP calls this for every PXE packet of a boot
 * storm, so it is a Map lookup, a time compare, and for a new boot four bytes
 * off a pre-filled random pool. Both maps are bounded; the oldest boot goes
 * first (a live boot is lost only after `maxEntries` newer boots started).
 */
import { randomBytes } from 'node:crypto';

export interface BootCorrelatorOptions {
  /** A machine quiet this long starts a new boot at its next step (default 15 min). */
  quietMs?: number;
  /** Boots and addresses remembered (each; default 50,000). */
  maxEntries?: number;
  now?: () => number;
}

interface Boot {
  id: string;
  /** The DHCP transaction that started it (-1: not started by DHCP). */
  xid: number;
  last: number;
}

const POOL_BYTES = 4096;

export type BootCorrelator = ReturnType<typeof createBootCorrelator>;

export function createBootCorrelator(opts: BootCorrelatorOptions = {}) {
  const quietMs = opts.quietMs ?? 15 * 60_000;
  const max = opts.maxEntries ?? 50_000;
  const now = opts.now ?? Date.now;
  /** By MAC, or by "ip <address>" while the address has no MAC. Insertion order = start order. */
  const boots = new Map<string, Boot>();
  const macByIp = new Map<string, string>();
  let started = 0;

  let pool = randomBytes(POOL_BYTES);
  let at = 0;
  function newId(): string {
    if (at + 4 > POOL_BYTES) {
      pool = randomBytes(POOL_BYTES);
      at = 0;
    }
    const n = pool.readUInt32BE(at);
    at += 4;
    return n.toString(16).padStart(8, '0');
  }

  function start(key: string, xid: number, t: number): Boot {
    const b: Boot = { id: newId(), xid, last: t };
    boots.delete(key);
    boots.set(key, b);
    if (boots.size > max) boots.delete(boots.keys().next().value!);
    started++;
    return b;
  }

  function live(key: string, t: number): Boot | undefined {
    const b = boots.get(key);
    return b && t - b.last <= quietMs ? b : undefined;
  }

  function learnIp(ip: string, mac: string): void {
    if (macByIp.get(ip) === mac) return;
    macByIp.delete(ip);
    macByIp.set(ip, mac);
    if (macByIp.size > max) macByIp.delete(macByIp.keys().next().value!);
  }

  /** The boot of a step that names its MAC; an address-keyed boot of that address is taken over. */
  function forMac(mac: string, ip: string | undefined, t: number): Boot {
    let b = live(mac, t);
    if (!b && ip) {
      const byIp = live('ip ' + ip, t);
      if (byIp) {
        boots.delete('ip ' + ip);
        boots.set(mac, byIp);
        b = byIp;
      }
    }
    if (b) b.last = t;
    else b = start(mac, -1, t);
    if (ip) learnIp(ip, mac);
    return b;
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
      let b = live(mac, t);
      if (!b || (firmwareDiscover && b.xid !== xid)) b = start(mac, firmwareDiscover ? xid : -1, t);
      else b.last = t;
      if (ip) learnIp(ip, mac);
      return b.id;
    },

    /** An HTTP step that names the MAC (boot script, pxelinux config, per-host file, task callback). */
    step(mac: string, ip?: string): string {
      return forMac(mac, ip, now()).id;
    },

    /** A step known only by client address (TFTP, assets, the entry script). */
    forIp(ip: string | undefined): string | undefined {
      if (!ip) return undefined;
      const t = now();
      const mac = macByIp.get(ip);
      if (mac) return forMac(mac, undefined, t).id;
      const key = 'ip ' + ip;
      const b = live(key, t);
      if (b) {
        b.last = t;
        return b.id;
      }
      return start(key, -1, t).id;
    },

    /** The current boot of a MAC or address, without extending or starting one (for log lines). */
    peek(mac: string | undefined, ip?: string): string | undefined {
      const t = now();
      const m = mac ?? (ip ? macByIp.get(ip) : undefined);
      if (m) return live(m, t)?.id;
      return ip ? live('ip ' + ip, t)?.id : undefined;
    },

    /** Remember which MAC uses an address (bounded; the oldest address goes first). */
    learnIp,

    /** The MAC last seen using this address, by DHCP or HTTP. */
    macForIp(ip: string | undefined): string | undefined {
      return ip ? macByIp.get(ip) : undefined;
    },

    /** Boots started since creation, and boots/addresses held now. */
    get stats(): { started: number; boots: number; addresses: number } {
      return { started, boots: boots.size, addresses: macByIp.size };
    },
  };
}

/**
 * Can chainboot bind its ports? Each port is bound the way a listener would
 * and released at once; when that fails, /proc says who holds it. The
 * verdicts are pure functions of what was observed.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { explainBindError } from '../net/bind.js';
import type { Check } from './check.js';
import type { Holder, PortHolders } from './procnet.js';

export type BindResult = { ok: true } | { ok: false; code: string; message: string };

/**
 * Binds and closes at once. UDP without SO_REUSEADDR, so a holder that set it
 * (a running chainboot does, on 67) is still found; TCP as Node's servers bind.
 */
export function tryBind(proto: 'udp' | 'tcp', port: number, address: string): Promise<BindResult> {
  return new Promise((resolve) => {
    const fail = (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code ?? 'UNKNOWN', message: err.message });
    if (proto === 'udp') {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      sock.once('error', (err) => {
        sock.close();
        fail(err);
      });
      sock.bind({ port, address, exclusive: true }, () => sock.close(() => resolve({ ok: true })));
    } else {
      const srv = net.createServer();
      srv.once('error', fail);
      srv.listen({ port, host: address, exclusive: true }, () => srv.close(() => resolve({ ok: true })));
    }
  });
}

export interface Privileges {
  uid: number;
  /** CAP_NET_BIND_SERVICE in the effective set. */
  capNetBindService: boolean;
  /** net.ipv4.ip_unprivileged_port_start: ports from here on need no privilege. */
  unprivilegedPortStart: number;
}

const CAP_NET_BIND_SERVICE = 10n;

/** Parses CapEff from /proc/<pid>/status text. */
export function hasCapNetBindService(statusText: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(statusText);
  return !!m && ((BigInt('0x' + m[1]) >> CAP_NET_BIND_SERVICE) & 1n) === 1n;
}

export function readPrivileges(): Privileges {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const start = read('/proc/sys/net/ipv4/ip_unprivileged_port_start').trim();
  return {
    uid: process.getuid?.() ?? -1,
    capNetBindService: hasCapNetBindService(read('/proc/self/status')),
    unprivilegedPortStart: /^\d+$/.test(start) ? Number(start) : 1024,
  };
}

export const SETCAP_FIX =
  'run as root, or "setcap cap_net_bind_service=+ep $(readlink -f $(which node))", or in a container grant the capability (docker run --cap-add NET_BIND_SERVICE; compose: cap_add: [NET_BIND_SERVICE])';

/** May this process bind ports below 1024 (and whichever of ours are privileged)? */
export function checkPrivileges(p: Privileges, ports: number[]): Check {
  const privileged = ports.filter((x) => x > 0 && x < p.unprivilegedPortStart);
  const base = { id: 'privileges', name: 'Privileges', data: { ...p, privilegedPorts: privileged } };
  if (p.uid === 0) return { ...base, status: 'ok', detail: 'running as root: every port can be bound, and every port holder can be named' };
  const who = `running as uid ${p.uid}`;
  if (privileged.length === 0) return { ...base, status: 'ok', detail: `${who}; none of the ports (${ports.join(', ')}) needs privilege (unprivileged ports start at ${p.unprivilegedPortStart})` };
  if (p.capNetBindService) return { ...base, status: 'ok', detail: `${who} with CAP_NET_BIND_SERVICE: ports ${privileged.join(', ')} can be bound (holders in other users' processes cannot be named without root)` };
  return {
    ...base,
    status: 'warn',
    detail: `${who} without CAP_NET_BIND_SERVICE: ports ${privileged.join(', ')} are below ${p.unprivilegedPortStart} and need root or that capability`,
    fix: SETCAP_FIX,
  };
}

export interface PortCheckInput {
  id: string;
  /** "proxyDHCP", "PXE boot server", "TFTP", "HTTP". */
  role: string;
  proto: 'udp' | 'tcp';
  port: number;
  /** The port firmware uses (67, 4011, 69); null when any port works (HTTP). */
  standardPort: number | null;
  address: string;
  /** The setting that moves the port, for the fix. */
  portFlag: string;
  addressFlag: string;
  /** Off in the configuration: not checked. */
  disabled?: string;
  bind?: BindResult;
  holders?: PortHolders;
  privileges: Privileges;
}

/** A holder that is chainboot itself (a running serve): the port is in use by the right program. */
export function isChainboot(h: Holder): boolean {
  return /(^|[\s/])(chainboot|cli\.[jt]s)(\s|$)/.test(h.command) && /\bserve\b/.test(h.command);
}

function describeHolders(h: PortHolders | undefined): string {
  if (!h || h.holders.length === 0) {
    if (h && h.unreadable > 0) return `a process this user cannot inspect (${h.unreadable} processes hidden: run doctor as root to name it)`;
    return 'an unknown process';
  }
  return h.holders.map((x) => `${x.name} (pid ${x.pid}${x.command ? `: ${x.command}` : ''})`).join(', ');
}

export function checkPort(i: PortCheckInput): Check {
  const name = `${i.proto.toUpperCase()} ${i.port} (${i.role})`;
  const data = { proto: i.proto, port: i.port, address: i.address, bind: i.bind, holders: i.holders?.holders ?? [], unreadable: i.holders?.unreadable ?? 0 };
  const base = { id: i.id, name, data };
  if (i.disabled) return { ...base, status: 'ok', detail: `not checked: ${i.disabled}` };
  if (i.port === 0) return { ...base, status: 'ok', detail: 'port 0: the kernel picks a free port at start' };
  const offStandard =
    i.standardPort !== null && i.port !== i.standardPort
      ? { status: 'warn' as const, note: `; but PXE firmware only uses ${i.standardPort}: clients will not reach port ${i.port}`, fix: `remove ${i.portFlag} (another port is for tests only)` }
      : null;
  const bind = i.bind;
  if (!bind) return { ...base, status: 'warn', detail: 'not checked' };
  if (bind.ok) {
    if (offStandard) return { ...base, status: offStandard.status, detail: `free on ${i.address}${offStandard.note}`, fix: offStandard.fix };
    return { ...base, status: 'ok', detail: `free on ${i.address}` };
  }
  if (bind.code === 'EACCES') {
    return { ...base, status: 'fail', detail: `permission denied: port ${i.port} is below ${i.privileges.unprivilegedPortStart} and this process (uid ${i.privileges.uid}) has neither root nor CAP_NET_BIND_SERVICE`, fix: SETCAP_FIX };
  }
  if (bind.code === 'EADDRINUSE') {
    const holders = i.holders?.holders ?? [];
    const who = describeHolders(i.holders);
    if (holders.length > 0 && holders.every(isChainboot)) {
      return { ...base, status: 'ok', detail: `in use by chainboot itself: ${who} (serve is running)` };
    }
    const stop = holders.length ? `stop ${[...new Set(holders.map((h) => h.name))].join(', ')} (systemctl stop <its unit>, or kill ${holders.map((h) => h.pid).join(' ')})` : 'stop the process holding it';
    if (i.standardPort === 67) {
      // A DHCP server on the same host: a supported setup, with 4011 only (DESIGN.md, "Known sharp edges").
      return {
        ...base,
        status: 'warn',
        detail: `in use by ${who}: a DHCP server on this host? Then only port ${i.port === 67 ? 4011 : 'the PXE boot server port'} can be served here, and that DHCP server must send option 60 "PXEClient"`,
        fix: `either ${stop}, or keep it and add option 60 PXEClient and the boot file to it ("chainboot dhcp-config --for dnsmasq|isc|kea|windows")`,
      };
    }
    if (i.standardPort === 69) {
      return { ...base, status: 'fail', detail: `in use by ${who}; serve would fall back to --tftp-fallback-port, which firmware never asks`, fix: `${stop} (tftpd-hpa, dnsmasq --enable-tftp?), or let it serve the same loader root` };
    }
    return { ...base, status: 'fail', detail: `in use by ${who}`, fix: `${stop}, or choose another port with ${i.portFlag}` };
  }
  if (bind.code === 'EADDRNOTAVAIL') {
    return { ...base, status: 'fail', detail: `${i.address} is not an address of this host`, fix: `set ${i.addressFlag} to one of this host's addresses, or 0.0.0.0` };
  }
  const err = Object.assign(new Error(bind.message), { code: bind.code }) as NodeJS.ErrnoException;
  return { ...base, status: 'fail', detail: explainBindError(err, i.proto, i.port), fix: `check ${i.addressFlag} and ${i.portFlag}` };
}

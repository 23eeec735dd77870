/**
 * Who holds a port, the way `ss -p` finds out on Linux: the socket's inode
 * from /proc/net/{udp,tcp}{,6}, then the process with a /proc/<pid>/fd link
 * to "socket:[inode]". Parsing is pure (tested on sample text); the lookup
 * reads /proc and says so when it could not look into other users' processes.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcNetEntry {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel socket state, hex as printed ("0A" = TCP LISTEN, "07" = UDP unconnected). */
  state: string;
  uid: number;
  inode: string;
}

export const TCP_LISTEN = '0A';

/** The kernel prints each 32-bit word of an address in host byte order; little-endian unless told. */
function hexAddress(hex: string, littleEndian: boolean): string {
  const words: Buffer[] = [];
  for (let i = 0; i < hex.length; i += 8) {
    const w = Buffer.from(hex.slice(i, i + 8), 'hex');
    words.push(littleEndian ? w.reverse() : w);
  }
  const b = Buffer.concat(words);
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    // ::ffff:a.b.c.d (a v4-mapped address) and :: are the ones worth spelling out.
    if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${[...b.subarray(12)].join('.')}`;
    if (b.every((x) => x === 0)) return '::';
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
    return parts.join(':');
  }
  return hex;
}

/**
 * Parses the text of /proc/net/udp, tcp, udp6 or tcp6. Lines that do not
 * have the expected shape are skipped (the header, a truncated read).
 */
export function parseProcNet(text: string, littleEndian = true): ProcNetEntry[] {
  const out: ProcNetEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
    if (f.length < 10 || !/^\d+:$/.test(f[0]!)) continue;
    const local = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(f[1]!);
    const remote = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(f[2]!);
    if (!local || !remote || !/^\d+$/.test(f[7]!) || !/^\d+$/.test(f[9]!)) continue;
    out.push({
      localAddress: hexAddress(local[1]!, littleEndian),
      localPort: parseInt(local[2]!, 16),
      remoteAddress: hexAddress(remote[1]!, littleEndian),
      remotePort: parseInt(remote[2]!, 16),
      state: f[3]!.toUpperCase(),
      uid: Number(f[7]),
      inode: f[9]!,
    });
  }
  return out;
}

/** The sockets that keep `port` from being bound: TCP listeners, or any UDP socket on it. */
export function socketsOnPort(entries: ProcNetEntry[], proto: 'udp' | 'tcp', port: number): ProcNetEntry[] {
  return entries.filter((e) => e.localPort === port && (proto === 'udp' || e.state === TCP_LISTEN));
}

/** The socket inode behind a /proc/<pid>/fd link target ("socket:[12345]"), or null. */
export function socketInode(linkTarget: string): string | null {
  const m = /^socket:\[(\d+)\]$/.exec(linkTarget);
  return m ? m[1]! : null;
}

export interface Holder {
  pid: number;
  /** /proc/<pid>/comm: the short process name. */
  name: string;
  /** The command line, shortened. */
  command: string;
}

export interface PortHolders {
  sockets: ProcNetEntry[];
  holders: Holder[];
  /** Processes whose fd table could not be read (not root): a holder may hide among them. */
  unreadable: number;
}

function readText(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** The sockets on `port` in this network namespace (v4 and v6 tables). */
export function readSockets(proto: 'udp' | 'tcp', port: number, procRoot = '/proc'): ProcNetEntry[] {
  const entries: ProcNetEntry[] = [];
  for (const table of [proto, `${proto}6`]) {
    const text = readText(join(procRoot, 'net', table));
    if (text) entries.push(...parseProcNet(text));
  }
  return socketsOnPort(entries, proto, port);
}

/** Processes holding any of the given socket inodes. */
export function findHolders(inodes: Set<string>, procRoot = '/proc'): { holders: Holder[]; unreadable: number } {
  const holders: Holder[] = [];
  let unreadable = 0;
  if (inodes.size === 0) return { holders, unreadable };
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return { holders, unreadable };
  }
  for (const pid of pids) {
    const fdDir = join(procRoot, pid, 'fd');
    let fds: string[];
    try {
      fds = readdirSync(fdDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') unreadable++;
      continue; // EACCES: another user's process; ENOENT: it just exited
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(join(fdDir, fd));
      } catch {
        continue;
      }
      const inode = socketInode(target);
      if (inode && inodes.has(inode)) {
        const name = (readText(join(procRoot, pid, 'comm')) ?? '?').trim();
        const command = (readText(join(procRoot, pid, 'cmdline')) ?? '').split('\0').filter(Boolean).join(' ');
        holders.push({ pid: Number(pid), name, command: command.length > 160 ? command.slice(0, 157) + '…' : command });
        break;
      }
    }
  }
  return { holders, unreadable };
}

export function portHolders(proto: 'udp' | 'tcp', port: number, procRoot = '/proc'): PortHolders {
  const sockets = readSockets(proto, port, procRoot);
  const { holders, unreadable } = findHolders(new Set(sockets.map((s) => s.inode).filter((i) => i !== '0')), procRoot);
  return { sockets, holders, unreadable };
}

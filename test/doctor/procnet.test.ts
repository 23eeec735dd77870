/**
 * /proc/net parsing on sample text, and the socket → process lookup on a
 * /proc tree made in a temporary directory.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcNet, portHolders, socketInode, socketsOnPort, TCP_LISTEN } from '../../src/doctor/procnet.js';

const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 0
  124: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 41235 2 0000000000000000 0
  125: 0A00A8C0:0045 0500A8C0:C350 01 00000000:00000000 00:00000000 00000000   108        0 41236 2 0000000000000000 0
`;

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 5556 1 0000000000000000 20 4 30 10 -1
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7777 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0045 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7778 1 0000000000000000 100 0 0 10 0
   2: 000080FE00000000FF005452CD00ABFE:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7779 1 0000000000000000 100 0 0 10 0
`;

describe('parseProcNet', () => {
  it('reads addresses (host byte order words), ports, state, uid and inode; skips the header', () => {
    expect(parseProcNet(UDP)).toEqual([
      { localAddress: '0.0.0.0', localPort: 67, remoteAddress: '0.0.0.0', remotePort: 0, state: '07', uid: 0, inode: '41234' },
      { localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '0.0.0.0', remotePort: 0, state: '07', uid: 1000, inode: '41235' },
      { localAddress: '192.168.0.10', localPort: 69, remoteAddress: '192.168.0.5', remotePort: 50000, state: '01', uid: 108, inode: '41236' },
    ]);
  });

  it('reads IPv6 tables: ::, v4-mapped and a plain address', () => {
    const e = parseProcNet(TCP6);
    expect(e.map((x) => [x.localAddress, x.localPort, x.inode])).toEqual([
      ['::', 8081, '7777'],
      ['::ffff:127.0.0.1', 69, '7778'],
      ['fe80:0:0:0:5254:ff:feab:cd', 8082, '7779'],
    ]);
  });

  it('skips truncated and malformed lines', () => {
    expect(parseProcNet('  1: 00000000:0043 00000000:0000 07\n  2: zz:0043 00000000:0000 07 0:0 0:0 0 0 0 9\n')).toEqual([]);
  });
});

describe('socketsOnPort', () => {
  it('TCP: only listeners hold a port; UDP: any socket on it', () => {
    const tcp = parseProcNet(TCP);
    expect(socketsOnPort(tcp, 'tcp', 8080).map((s) => s.inode)).toEqual(['5555']);
    expect(socketsOnPort(tcp, 'tcp', 8080).every((s) => s.state === TCP_LISTEN)).toBe(true);
    expect(socketsOnPort(parseProcNet(UDP), 'udp', 69).map((s) => s.inode)).toEqual(['41236']);
    expect(socketsOnPort(parseProcNet(UDP), 'udp', 4011)).toEqual([]);
  });
});

describe('socketInode', () => {
  it('reads fd link targets', () => {
    expect(socketInode('socket:[41234]')).toBe('41234');
    expect(socketInode('pipe:[41234]')).toBeNull();
    expect(socketInode('/dev/null')).toBeNull();
  });
});

describe('portHolders on a /proc tree', () => {
  it('follows inode → /proc/<pid>/fd → name and command line', () => {
    const proc = mkdtempSync(join(tmpdir(), 'chainboot-proc-'));
    mkdirSync(join(proc, 'net'));
    writeFileSync(join(proc, 'net', 'udp'), UDP);
    writeFileSync(join(proc, 'net', 'udp6'), '  sl  local_address remote_address st\n');
    writeFileSync(join(proc, 'net', 'tcp'), TCP);
    writeFileSync(join(proc, 'net', 'tcp6'), TCP6);
    const pid = (n: number, comm: string, argv: string[], fds: string[]) => {
      mkdirSync(join(proc, String(n), 'fd'), { recursive: true });
      writeFileSync(join(proc, String(n), 'comm'), comm + '\n');
      writeFileSync(join(proc, String(n), 'cmdline'), argv.join('\0') + '\0');
      fds.forEach((t, i) => symlinkSync(t, join(proc, String(n), 'fd', String(i))));
    };
    pid(812, 'dnsmasq', ['/usr/sbin/dnsmasq', '-k', '--enable-tftp'], ['/dev/null', 'socket:[41234]', 'socket:[99]']);
    pid(900, 'node', ['node', 'dist/src/cli.js', 'serve'], ['socket:[5555]', 'pipe:[1]']);
    pid(901, 'bash', ['bash'], ['/dev/tty']);
    mkdirSync(join(proc, 'self'));

    const on67 = portHolders('udp', 67, proc);
    expect(on67.sockets.map((s) => s.inode)).toEqual(['41234']);
    expect(on67.holders).toEqual([{ pid: 812, name: 'dnsmasq', command: '/usr/sbin/dnsmasq -k --enable-tftp' }]);
    expect(portHolders('tcp', 8080, proc).holders).toEqual([{ pid: 900, name: 'node', command: 'node dist/src/cli.js serve' }]);
    // The v6 table is read too.
    expect(portHolders('tcp', 8081, proc).sockets.map((s) => s.inode)).toEqual(['7777']);
    expect(portHolders('udp', 4011, proc)).toEqual({ sockets: [], holders: [], unreadable: 0 });
  });
});

/**
 * The pure parts of the doctor: each check's verdict from given facts, the
 * parsers of tool output, the DISCOVER it sends and the offers it reads, and
 * the report renderers.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCode, makeReport, renderJson, renderText, type Check } from '../../src/doctor/check.js';
import { checkPort, checkPrivileges, hasCapNetBindService, isChainboot, type PortCheckInput, type Privileges } from '../../src/doctor/ports.js';
import { checkAddress, parseIpAddrJson, type InterfaceFacts } from '../../src/doctor/address.js';
import { binaryVersion, checkLoader, checkLoaderRoot, debianPackageFor, gatherLoader, loadersToCheck, parseVersionsFile, roleOf } from '../../src/doctor/loaders.js';
import { checkFirewall, openCommands, parseFirewalld, parseIptables, parseNft, parseUfw, relayAdvice, isOpen } from '../../src/doctor/firewall.js';
import { buildDiscover, checkProbe, groupOffers, readOffer, type Offer, type ProbeResult } from '../../src/doctor/probe.js';
import { parseDoctorArgs } from '../../src/doctor/index.js';
import { decodePacket, encodePacket, messageType, Opt, clientArchitectures, optString, type DhcpPacket } from '../../src/dhcp/packet.js';
import { encodeBootMenu, encodeSubOptions, PxeSub } from '../../src/dhcp/pxe.js';

const ROOT: Privileges = { uid: 0, capNetBindService: true, unprivilegedPortStart: 1024 };
const USER: Privileges = { uid: 1000, capNetBindService: false, unprivilegedPortStart: 1024 };

function port(over: Partial<PortCheckInput>): PortCheckInput {
  return { id: 'port.tftp', role: 'TFTP', proto: 'udp', port: 69, standardPort: 69, address: '0.0.0.0', portFlag: '--tftp-port', addressFlag: '--tftp-bind-address', privileges: ROOT, ...over };
}

describe('port checks', () => {
  it('free port: ok; free but not the port firmware uses: warn naming the setting', () => {
    expect(checkPort(port({ bind: { ok: true } }))).toMatchObject({ status: 'ok', name: 'UDP 69 (TFTP)', detail: 'free on 0.0.0.0' });
    const moved = checkPort(port({ port: 6969, bind: { ok: true } }));
    expect(moved.status).toBe('warn');
    expect(moved.detail).toContain('PXE firmware only uses 69');
    expect(moved.fix).toBe('remove --tftp-port (another port is for tests only)');
    expect(checkPort(port({ id: 'port.http', proto: 'tcp', port: 8081, standardPort: null, bind: { ok: true } })).status).toBe('ok');
  });

  it('disabled or port 0: not a problem', () => {
    expect(checkPort(port({ disabled: 'TFTP is off (--tftp off)' }))).toMatchObject({ status: 'ok', detail: 'not checked: TFTP is off (--tftp off)' });
    expect(checkPort(port({ proto: 'tcp', port: 0, standardPort: null }))).toMatchObject({ status: 'ok' });
  });

  it('EACCES: fails with the capability fix', () => {
    const c = checkPort(port({ privileges: USER, bind: { ok: false, code: 'EACCES', message: 'bind EACCES' } }));
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('uid 1000');
    expect(c.fix).toContain('setcap cap_net_bind_service=+ep $(readlink -f $(which node))');
    expect(c.fix).toContain('NET_BIND_SERVICE');
  });

  it('EADDRINUSE on 69: fails naming the holder and how to stop it', () => {
    const c = checkPort(port({ bind: { ok: false, code: 'EADDRINUSE', message: 'in use' }, holders: { sockets: [], holders: [{ pid: 812, name: 'in.tftpd', command: '/usr/sbin/in.tftpd --listen' }], unreadable: 0 } }));
    expect(c.status).toBe('fail');
    expect(c.detail).toBe('in use by in.tftpd (pid 812: /usr/sbin/in.tftpd --listen); serve would fall back to --tftp-fallback-port, which firmware never asks');
    expect(c.fix).toMatch(/^stop in\.tftpd \(systemctl stop <its unit>, or kill 812\)/);
  });

  it('EADDRINUSE on 67: a DHCP server on this host is a supported setup (warn, option 60)', () => {
    const c = checkPort(port({ id: 'port.dhcp', role: 'proxyDHCP', port: 67, standardPort: 67, bind: { ok: false, code: 'EADDRINUSE', message: '' }, holders: { sockets: [], holders: [{ pid: 5, name: 'dnsmasq', command: 'dnsmasq' }], unreadable: 0 } }));
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('only port 4011 can be served here');
    expect(c.fix).toContain('chainboot dhcp-config');
  });

  it('EADDRINUSE by chainboot serve itself: ok', () => {
    const self = { pid: 77, name: 'node', command: 'node /opt/chainboot/dist/src/cli.js serve --http-port 8080' };
    expect(isChainboot(self)).toBe(true);
    expect(isChainboot({ pid: 1, name: 'node', command: 'node other.js serve' })).toBe(false);
    const c = checkPort(port({ id: 'port.http', proto: 'tcp', port: 8080, standardPort: null, bind: { ok: false, code: 'EADDRINUSE', message: '' }, holders: { sockets: [], holders: [self], unreadable: 0 } }));
    expect(c).toMatchObject({ status: 'ok' });
    expect(c.detail).toContain('chainboot itself');
  });

  it('EADDRINUSE with the holder hidden from a non-root user says so', () => {
    const c = checkPort(port({ id: 'port.http', proto: 'tcp', port: 8080, standardPort: null, portFlag: '--http-port', privileges: USER, bind: { ok: false, code: 'EADDRINUSE', message: '' }, holders: { sockets: [], holders: [], unreadable: 12 } }));
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('run doctor as root to name it');
    expect(c.fix).toContain('--http-port');
  });

  it('EADDRNOTAVAIL: the listen address is not on this host', () => {
    const c = checkPort(port({ address: '10.9.9.9', bind: { ok: false, code: 'EADDRNOTAVAIL', message: '' } }));
    expect(c).toMatchObject({ status: 'fail', detail: '10.9.9.9 is not an address of this host' });
    expect(c.fix).toContain('--tftp-bind-address');
  });
});

describe('privileges', () => {
  it('reads CAP_NET_BIND_SERVICE (bit 10) from CapEff', () => {
    expect(hasCapNetBindService('Name:\tnode\nCapEff:\t0000000000000400\n')).toBe(true);
    expect(hasCapNetBindService('CapEff:\t000001fffeffffff\n')).toBe(true);
    expect(hasCapNetBindService('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasCapNetBindService('')).toBe(false);
  });

  it('root: ok; non-root without the capability: warn with setcap; high ports: ok', () => {
    expect(checkPrivileges(ROOT, [67, 69]).status).toBe('ok');
    const user = checkPrivileges(USER, [67, 4011, 69, 8080]);
    expect(user.status).toBe('warn');
    expect(user.detail).toContain('ports 67, 69 are below 1024');
    expect(user.fix).toContain('setcap');
    expect(checkPrivileges({ ...USER, capNetBindService: true }, [67]).status).toBe('ok');
    expect(checkPrivileges(USER, [8080]).status).toBe('ok');
    expect(checkPrivileges({ ...USER, unprivilegedPortStart: 0 }, [67]).status).toBe('ok');
  });
});

const IP_JSON = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
  { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], link_type: 'ether', address: '52:54:00:12:34:56', addr_info: [{ family: 'inet', local: '10.0.0.5', prefixlen: 24 }] },
  { ifindex: 3, ifname: 'eth1', flags: ['BROADCAST', 'MULTICAST'], link_type: 'ether', address: '52:54:00:12:34:57', addr_info: [{ family: 'inet', local: '10.1.0.5', prefixlen: 24 }] },
  { ifindex: 4, ifname: 'docker0', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'], link_type: 'ether', address: '02:42:ac:11:00:01', addr_info: [{ family: 'inet', local: '172.17.0.1', prefixlen: 16 }] },
  { ifindex: 5, ifname: 'br0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], link_type: 'ether', address: '52:54:00:aa:bb:cc', addr_info: [{ family: 'inet', local: '192.168.7.1', prefixlen: 24 }] },
]);

describe('advertised address', () => {
  const ifaces = parseIpAddrJson(IP_JSON);
  const input = (over: object) => ({ advertiseIp: '', baseUrl: '', httpPort: 8080, detected: '10.0.0.5', dhcpOn: true, interfaces: ifaces, ...over });

  it('parses ip -j addr: up, carrier, loopback, MAC, IPv4 addresses', () => {
    expect(ifaces[0]).toMatchObject({ name: 'lo', loopback: true, up: true, mac: '00:00:00:00:00:00' });
    expect(ifaces[2]).toEqual({ name: 'eth1', up: false, carrier: false, loopback: false, mac: '52:54:00:12:34:57', addresses: [{ address: '10.1.0.5', prefixlen: 24 }] });
    expect(ifaces[3]).toMatchObject({ name: 'docker0', up: true, carrier: false });
  });

  it('configured and on an up interface: ok', () => {
    const c = checkAddress(input({ advertiseIp: '10.0.0.5' }));
    expect(c.status).toBe('ok');
    expect(c.detail).toBe('10.0.0.5 (advertiseIp on eth0, up); boot scripts point at http://10.0.0.5:8080');
  });

  it('configured but on no interface, on a down one, or without carrier: fail with the fix', () => {
    const none = checkAddress(input({ advertiseIp: '10.2.0.9' }));
    expect(none.status).toBe('fail');
    expect(none.detail).toContain("10.2.0.9 is on none of this host's interfaces");
    expect(none.fix).toContain('--advertise-ip');
    expect(checkAddress(input({ advertiseIp: '10.1.0.5' }))).toMatchObject({ status: 'fail', fix: 'ip link set eth1 up' });
    expect(checkAddress(input({ advertiseIp: '172.17.0.1' })).detail).toContain('no carrier');
  });

  it('auto-detected with several candidate subnets: warn listing them', () => {
    const c = checkAddress(input({}));
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('several candidate subnets: eth0 10.0.0.5/24, docker0 172.17.0.1/16, br0 192.168.7.1/24');
    expect(c.fix).toMatch(/^set --advertise-ip \(CHAINBOOT_ADVERTISE_IP\)/);
  });

  it('one interface: ok; none: fail; loopback base URL: fail', () => {
    const one = parseIpAddrJson(JSON.stringify([JSON.parse(IP_JSON)[0], JSON.parse(IP_JSON)[1]]));
    expect(checkAddress(input({ interfaces: one })).status).toBe('ok');
    expect(checkAddress(input({ interfaces: [ifaces[0]], detected: '127.0.0.1' })).status).toBe('fail');
    expect(checkAddress(input({ interfaces: one, baseUrl: 'http://127.0.0.1:8080' }))).toMatchObject({ status: 'fail', fix: 'set --base-url to an address clients reach, or leave it unset' });
  });
});

describe('loaders', () => {
  // iPXE's version.c layout: product name, short name and version side by side.
  const ipxeEfi = Buffer.concat([Buffer.from('MZ\x90\x00'), Buffer.alloc(64), Buffer.from('ipxe.efi\x00iPXE\x00\x00\x001.21.1+ (g8e3bd)\x00\x00', 'latin1'), Buffer.alloc(32)]);

  it('reads versions from iPXE, syslinux and wimboot binaries; none from a compressed one', () => {
    expect(binaryVersion(ipxeEfi)).toBe('iPXE 1.21.1+ (g8e3bd)');
    expect(binaryVersion(Buffer.from('\x00\x00PXELINUX 6.04 lwIP 20200816 \x00Copyright', 'latin1'))).toBe('PXELINUX 6.04 lwIP 20200816');
    expect(binaryVersion(Buffer.from('\x00MEMDISK 6.04 20200816\x00', 'latin1'))).toBe('MEMDISK 6.04 20200816');
    expect(binaryVersion(Buffer.from('\nwimboot v2.8.0 -- Windows Imaging Format bootloader', 'latin1'))).toBe('wimboot v2.8.0');
    expect(binaryVersion(Buffer.from([0x5d, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff]))).toBeNull();
  });

  it('maps system paths to Debian packages', () => {
    expect(debianPackageFor('/usr/lib/ipxe/undionly.kpxe')).toBe('ipxe');
    expect(debianPackageFor('/boot/ipxe.efi')).toBe('ipxe');
    expect(debianPackageFor('/usr/lib/PXELINUX/lpxelinux.0')).toBe('pxelinux');
    expect(debianPackageFor('/usr/lib/syslinux/memdisk')).toBe('syslinux-common');
    expect(debianPackageFor('/srv/loaders/ipxe.efi')).toBeNull();
  });

  it('lists each architecture loader once, then the helpers', () => {
    expect(loadersToCheck({ bios: 'undionly.kpxe', efi64: 'ipxe.efi', rpi: 'ipxe.efi' })).toEqual([
      { name: 'undionly.kpxe', keys: ['bios'] },
      { name: 'ipxe.efi', keys: ['efi64', 'rpi'] },
      { name: 'snponly.efi', keys: [] },
      { name: 'lpxelinux.0', keys: [] },
      { name: 'memdisk', keys: [] },
      { name: 'wimboot', keys: [] },
    ]);
    expect(roleOf(['bios'])).toBe('x86 BIOS firmware, arch 0');
    expect(roleOf(['efi64'])).toBe('x64 UEFI firmware, arch 7/9');
    expect(roleOf([])).toBe('fetched over HTTP by profiles');
  });

  function lab() {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-loaders-'));
    const root = join(dir, 'loaders');
    mkdirSync(root);
    return { dir, root };
  }
  const ctx = { tftpOn: true, dhcpOn: true };
  const dpkg = () => null;

  it('a loader in the root: ok with size, sha256 and version', () => {
    const { root } = lab();
    writeFileSync(join(root, 'ipxe.efi'), ipxeEfi);
    const f = gatherLoader('ipxe.efi', ['efi64'], root, { systemDirs: false, dpkg });
    expect(f.tftpPath).toBe(join(root, 'ipxe.efi'));
    expect(f.file).toMatchObject({ size: ipxeEfi.length, version: 'iPXE 1.21.1+ (g8e3bd)', package: null });
    expect(f.file!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const c = checkLoader(f, ctx);
    expect(c.status).toBe('ok');
    expect(c.detail).toContain(`sha256 ${f.file!.sha256}`);
    // With TFTP off, proxyDHCP still hands it to firmware: warn.
    expect(checkLoader(f, { tftpOn: false, dhcpOn: true }).status).toBe('warn');
  });

  it('a copy in the root takes its package version from <root>/VERSIONS (dpkg-query -W output, as the Dockerfile saves it)', () => {
    expect(parseVersionsFile('ipxe\t1.21.1+git-20220113.fbbdc3926-0ubuntu1\npxelinux\t3:6.04~git20190206.bf6db5b4+dfsg1-3\nsyslinux-common:all 3:6.04\n\n')).toEqual(
      new Map([
        ['ipxe', '1.21.1+git-20220113.fbbdc3926-0ubuntu1'],
        ['pxelinux', '3:6.04~git20190206.bf6db5b4+dfsg1-3'],
        ['syslinux-common', '3:6.04'],
      ]),
    );
    const { root } = lab();
    writeFileSync(join(root, 'undionly.kpxe'), Buffer.from([0x5d, 0, 0, 0x80, 0]));
    writeFileSync(join(root, 'VERSIONS'), 'ipxe\t1.21.1+git-20220113.fbbdc3926-0ubuntu1\n');
    const f = gatherLoader('undionly.kpxe', ['bios'], root, { systemDirs: false, dpkg });
    expect(f.file).toMatchObject({ version: null, package: { name: 'ipxe', version: '1.21.1+git-20220113.fbbdc3926-0ubuntu1' } });
    expect(checkLoader(f, ctx).detail).toContain('no version string in the binary (compressed image), Debian package ipxe 1.21.1+git-20220113.fbbdc3926-0ubuntu1');
  });

  it('a symlink out of the root (the Debian /boot/ipxe.efi one): TFTP refuses it, fail with the copy fix', () => {
    const { dir, root } = lab();
    mkdirSync(join(dir, 'boot'));
    writeFileSync(join(dir, 'boot', 'ipxe.efi'), ipxeEfi);
    symlinkSync(join(dir, 'boot', 'ipxe.efi'), join(root, 'ipxe.efi'));
    const f = gatherLoader('ipxe.efi', ['efi64'], root, { systemDirs: false, dpkg });
    expect(f.inRoot).toBe('symlink');
    expect(f.tftpPath).toBeNull();
    const c = checkLoader(f, ctx);
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('outside the loader root: TFTP refuses it');
    expect(c.fix).toBe(`replace the link with a copy: rm ${join(root, 'ipxe.efi')} && cp -L ${join(dir, 'boot', 'ipxe.efi')} ${join(root, 'ipxe.efi')}   (or scripts/copy-debian-loaders.sh ${root})`);
    // A helper fetched over HTTP follows the link: fine.
    expect(checkLoader(gatherLoader('ipxe.efi', [], root, { systemDirs: false, dpkg }), ctx).status).toBe('ok');
  });

  it('a dangling symlink: fail', () => {
    const { dir, root } = lab();
    symlinkSync(join(dir, 'gone.efi'), join(root, 'snponly.efi'));
    const c = checkLoader(gatherLoader('snponly.efi', ['efi64'], root, { systemDirs: false, dpkg }), ctx);
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('which does not exist');
  });

  it('missing: fail for a firmware loader (with the package), warn for a helper', () => {
    const { root } = lab();
    const bios = checkLoader(gatherLoader('undionly.kpxe', ['bios'], root, { systemDirs: false, dpkg }), ctx);
    expect(bios.status).toBe('fail');
    expect(bios.fix).toBe(`install the Debian package "ipxe", then copy it into ${root}`);
    const wimboot = checkLoader(gatherLoader('wimboot', [], root, { systemDirs: false, dpkg }), ctx);
    expect(wimboot.status).toBe('warn');
    expect(wimboot.fix).toContain('https://ipxe.org/wimboot');
    // proxyDHCP off: nobody is sent to it by firmware.
    expect(checkLoader(gatherLoader('undionly.kpxe', ['bios'], root, { systemDirs: false, dpkg }), { tftpOn: false, dhcpOn: false }).status).toBe('warn');
  });

  it('found only outside the root (the system copy): ok, TFTP and HTTP serve it from there', () => {
    const { root } = lab();
    const c = checkLoader(
      {
        name: 'undionly.kpxe',
        keys: ['bios'],
        root,
        inRoot: 'missing',
        tftpPath: null,
        systemPath: '/usr/lib/ipxe/undionly.kpxe',
        file: { path: '/usr/lib/ipxe/undionly.kpxe', size: 74213, sha256: 'f'.repeat(64), version: null, package: { name: 'ipxe', version: '1.21.1+git-20220113.fbbdc3926-0ubuntu1' } },
        provider: 'install the Debian package "ipxe"',
      },
      ctx,
    );
    expect(c.status).toBe('ok');
    expect(c.detail).toContain('Debian package ipxe 1.21.1+git-20220113.fbbdc3926-0ubuntu1');
    expect(c.detail).toContain('TFTP and HTTP serve it from there (PXE firmware fetches it over TFTP)');
  });

  it('the Debian ipxe.efi link dangling in /usr/lib/ipxe: reinstall, then copy', () => {
    const { root } = lab();
    const c = checkLoader({ name: 'ipxe.efi', keys: ['efi64'], root, inRoot: 'missing', tftpPath: null, systemPath: null, systemLink: { path: '/usr/lib/ipxe/ipxe.efi', target: '/boot/ipxe.efi', dangling: true }, provider: 'install the Debian package "ipxe"' }, ctx);
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('/usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi, which does not exist');
    expect(c.fix).toMatch(/^apt-get install --reinstall ipxe/);
  });

  it('loader root missing: fail', () => {
    expect(checkLoaderRoot('/nonexistent/loaders', false, 0)).toMatchObject({ status: 'fail', fix: 'mkdir -p /nonexistent/loaders && scripts/copy-debian-loaders.sh /nonexistent/loaders (or set --loader-root)' });
  });
});

describe('firewall', () => {
  const ports = { udp: [67, 69, 4011], tcp: [8080] };
  const none = { ufw: null, firewalld: null, nft: null, iptables: null };

  it('parses ufw, firewalld, nftables and iptables rules into open port ranges', () => {
    const ufw = parseUfw('Status: active\n\nTo                         Action      From\n--                         ------      ----\n22/tcp                     ALLOW       Anywhere\n67,69/udp                  ALLOW       Anywhere\n8080                       ALLOW IN    Anywhere\n6000:6100/udp              ALLOW       Anywhere\n');
    expect(ufw.filtering).toBe(true);
    expect(isOpen(ufw.open.udp, 69)).toBe(true);
    expect(isOpen(ufw.open.udp, 6050)).toBe(true);
    expect(isOpen(ufw.open.udp, 4011)).toBe(false);
    expect(isOpen(ufw.open.tcp, 8080)).toBe(true);
    expect(parseUfw('Status: inactive\n').filtering).toBe(false);

    const fwd = parseFirewalld('public (active)\n  target: default\n  services: dhcp dhcpv6-client ssh tftp\n  ports: 8080/tcp 4011/udp\n');
    expect([67, 69, 4011].map((p) => isOpen(fwd.open.udp, p))).toEqual([true, true, true]);
    expect(isOpen(fwd.open.tcp, 8080)).toBe(true);

    const nft = parseNft('table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\tudp dport { 67, 69 } accept\n\t\ttcp dport 8080 accept\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n');
    expect(nft.filtering).toBe(true);
    expect(isOpen(nft.open.udp, 67) && isOpen(nft.open.udp, 69) && !isOpen(nft.open.udp, 4011)).toBe(true);
    expect(parseNft('table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n').filtering).toBe(false);

    const ipt = parseIptables('-P INPUT DROP\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p udp -m multiport --dports 67,69,4011 -j ACCEPT\n');
    expect(ipt.filtering).toBe(true);
    expect(isOpen(ipt.open.udp, 4011)).toBe(true);
    expect(isOpen(ipt.open.tcp, 8080)).toBe(false);
  });

  it('no filtering firewall: ok, with the one-liners for each tool', () => {
    const c = checkFirewall(none, { ports, tftpPortPerTransfer: true });
    expect(c.status).toBe('ok');
    expect(c.detail).toContain('must let in UDP 67, UDP 69, UDP 4011, TCP 8080');
    expect(c.detail).toContain('nftables:  nft add rule inet filter input udp dport { 67, 69, 4011 } accept && nft add rule inet filter input tcp dport 8080 accept');
    expect(c.detail).toContain('ufw:       ufw allow 67,69,4011/udp && ufw allow 8080/tcp');
    expect(c.detail).toContain('firewalld: firewall-cmd --permanent --add-port=67/udp --add-port=69/udp --add-port=4011/udp --add-port=8080/tcp && firewall-cmd --reload');
  });

  it('an active firewall missing some ports: warn, the fix opens exactly those', () => {
    const c = checkFirewall({ ...none, ufw: 'Status: active\n\n67,69/udp  ALLOW  Anywhere\n' }, { ports, tftpPortPerTransfer: true });
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('ufw filters incoming traffic; no rule found letting in UDP 4011, TCP 8080');
    expect(c.fix).toBe('ufw allow 4011/udp && ufw allow 8080/tcp');
    const all = checkFirewall({ ...none, ufw: 'Status: active\n\n67,69,4011/udp  ALLOW  Anywhere\n8080/tcp ALLOW Anywhere\n' }, { ports, tftpPortPerTransfer: false });
    expect(all.status).toBe('ok');
    const nft = checkFirewall({ ...none, nft: 'table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n' }, { ports, tftpPortPerTransfer: true });
    expect(nft.fix).toBe('nft add rule inet filter input udp dport { 67, 69, 4011 } accept && nft add rule inet filter input tcp dport 8080 accept (adjust "inet filter input" to your table and chain)');
  });

  it('openCommands handles one protocol only', () => {
    expect(openCommands({ udp: [], tcp: [8080] })).toEqual({ nft: 'nft add rule inet filter input tcp dport 8080 accept', ufw: 'ufw allow 8080/tcp', firewalld: 'firewall-cmd --permanent --add-port=8080/tcp && firewall-cmd --reload' });
  });

  it('relay advice names this server as the IP helper', () => {
    const r = relayAdvice({ advertised: '10.0.0.5', dhcpOn: true, dhcpPort: 67, proxyPort: 4011, tftpPort: 69, httpPort: 8080 });
    expect(r.status).toBe('ok');
    expect(r.fix).toContain('ip helper-address 10.0.0.5');
    expect(r.detail).toContain('beside the site\'s DHCP server');
    expect(relayAdvice({ advertised: '10.0.0.5', dhcpOn: false, dhcpPort: 67, proxyPort: 4011, tftpPort: 69, httpPort: 8080 }).detail).toContain('proxyDHCP is off');
  });
});

describe('probe packets', () => {
  const mac = Buffer.from([0x02, 0xcb, 0, 0, 0, 1]);
  const uuid = Buffer.alloc(16, 0xab);

  it('the DISCOVER is a PXE client request: option 60 PXEClient:Arch, 93, 97, broadcast flag', () => {
    const p = decodePacket(buildDiscover({ xid: 0x11223344, mac, arch: 7, uuid }));
    expect(p.op).toBe(1);
    expect(messageType(p)).toBe(1);
    expect(p.xid).toBe(0x11223344);
    expect(p.flags & 0x8000).toBe(0x8000);
    expect(optString(p, Opt.VENDOR_CLASS)).toBe('PXEClient:Arch:00007:UNDI:003000');
    expect(clientArchitectures(p).archs).toEqual([7]);
    expect(p.options.get(Opt.CLIENT_UUID)).toEqual(Buffer.concat([Buffer.from([0]), uuid]));
    expect(p.chaddr.subarray(0, 6)).toEqual(mac);
    expect(optString(decodePacket(buildDiscover({ xid: 1, mac, arch: 0, uuid })), Opt.VENDOR_CLASS)).toBe('PXEClient:Arch:00000:UNDI:002001');
  });

  function reply(over: Partial<DhcpPacket>, opts: [number, Buffer][]): Buffer {
    return encodePacket({ op: 2, htype: 1, hlen: 6, hops: 0, xid: 7, secs: 0, flags: 0x8000, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr: Buffer.alloc(16), sname: '', file: '', options: new Map([[53, Buffer.from([2])], ...opts]), ...over });
  }
  const xids = new Map([[7, 0], [8, 7]]);
  const from = { address: '10.0.0.9', port: 67 };

  it('reads a DHCP offer (an address) and a proxy offer (boot file, menu) and ignores others', () => {
    const dhcp = readOffer(reply({ yiaddr: '10.0.0.120', siaddr: '10.0.0.1', file: 'pxelinux.0' }, [[54, Buffer.from([10, 0, 0, 1])]]), from, xids);
    expect(dhcp).toEqual({ server: '10.0.0.1', from: '10.0.0.9:67', arch: 0, kind: 'dhcp', address: '10.0.0.120', bootFile: 'pxelinux.0', nextServer: '10.0.0.1', vendorClass: null, menu: [] });
    const menu = encodeSubOptions(new Map([[PxeSub.BOOT_MENU, encodeBootMenu([{ type: 0x8000, label: 'Network boot' }])]]));
    const proxy = readOffer(reply({ xid: 8 }, [[54, Buffer.from([10, 0, 0, 2])], [60, Buffer.from('PXEClient')], [43, menu]]), from, xids);
    expect(proxy).toMatchObject({ server: '10.0.0.2', arch: 7, kind: 'proxy', address: null, bootFile: null, menu: ['Network boot'], vendorClass: 'PXEClient' });
    expect(readOffer(reply({ xid: 99 }, []), from, xids)).toBeNull(); // another client's
    expect(readOffer(buildDiscover({ xid: 7, mac, arch: 0, uuid }), from, xids)).toBeNull(); // a request
    expect(readOffer(Buffer.from('junk'), from, xids)).toBeNull();
  });

  it('groups offers per server, drops retransmitted duplicates, marks this host', () => {
    const o = (server: string, arch: number, kind: 'dhcp' | 'proxy'): Offer => ({ server, from: `${server}:67`, arch, kind, address: kind === 'dhcp' ? '10.0.0.120' : null, bootFile: kind === 'proxy' ? 'undionly.kpxe' : null, nextServer: null, vendorClass: null, menu: [] });
    const g = groupOffers([o('10.0.0.1', 0, 'dhcp'), o('10.0.0.5', 0, 'proxy'), o('10.0.0.1', 0, 'dhcp'), o('10.0.0.1', 7, 'dhcp')], ['10.0.0.5']);
    expect(g.map((r) => [r.server, r.kind, r.self, r.offers.length])).toEqual([
      ['10.0.0.1', 'dhcp', false, 2],
      ['10.0.0.5', 'proxy', true, 1],
    ]);
  });
});

describe('probe verdicts', () => {
  const offer = (over: Partial<Offer>): Offer => ({ server: '10.0.0.1', from: '10.0.0.1:67', arch: 0, kind: 'dhcp', address: '10.0.0.120', bootFile: null, nextServer: null, vendorClass: null, menu: [], ...over });
  const result = (responders: ProbeResult extends infer R ? (R extends { responders: infer X } ? X : never) : never): ProbeResult => ({ iface: 'eth0', source: '10.0.0.5:68', listenMs: 4000, archs: [0, 7], responders });
  const ctx = { dhcpOn: true, advertised: '10.0.0.5' };

  it('a DHCP server and this host only: ok', () => {
    const checks = checkProbe(result([{ server: '10.0.0.1', kind: 'dhcp', self: false, offers: [offer({})] }, { server: '10.0.0.5', kind: 'proxy', self: true, offers: [offer({ server: '10.0.0.5', kind: 'proxy', address: null, bootFile: 'undionly.kpxe' })] }]), ctx);
    expect(checks.map((c) => [c.id, c.status])).toEqual([['probe', 'ok']]);
    expect(checks[0]!.detail).toContain('10.0.0.5: proxyDHCP (boot information only) — this host');
    expect(checks[0]!.detail).toContain('x86 BIOS: boot file undionly.kpxe');
  });

  it('another proxyDHCP, and a DHCP server handing out its own boot file: one warning each, with its fix', () => {
    const checks = checkProbe(
      result([
        { server: '10.0.0.1', kind: 'dhcp', self: false, offers: [offer({ bootFile: 'pxelinux.0', nextServer: '10.0.0.1' })] },
        { server: '10.0.0.7', kind: 'proxy', self: false, offers: [offer({ server: '10.0.0.7', kind: 'proxy', address: null, menu: ['Install'] })] },
      ]),
      ctx,
    );
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ['probe', 'ok'],
      ['probe.dhcp-boot.10.0.0.1', 'warn'],
      ['probe.proxy.10.0.0.7', 'warn'],
    ]);
    expect(checks[1]!.fix).toContain('chainboot dhcp-config');
    expect(checks[2]!.fix).toContain('dhcp-range=…,proxy');
    // A DHCP server pointing PXE clients at chainboot (dhcp-config) is no conflict.
    expect(checkProbe(result([{ server: '10.0.0.1', kind: 'dhcp', self: false, offers: [offer({ bootFile: 'undionly.kpxe', nextServer: '10.0.0.5' })] }]), ctx)).toHaveLength(1);
  });

  it('no DHCP server: warn; proxyDHCP off and nobody pointing at chainboot: warn', () => {
    expect(checkProbe(result([]), ctx).map((c) => c.id)).toEqual(['probe', 'probe.no-dhcp']);
    const off = checkProbe(result([{ server: '10.0.0.1', kind: 'dhcp', self: false, offers: [offer({})] }]), { dhcpOn: false, advertised: '10.0.0.5' });
    expect(off.map((c) => c.id)).toEqual(['probe', 'probe.no-boot-info']);
  });

  it('skipped and failed probes', () => {
    expect(checkProbe({ skipped: '--no-probe' }, ctx)).toEqual([{ id: 'probe', name: 'Other DHCP / proxyDHCP servers', status: 'ok', detail: 'not checked: --no-probe', data: { skipped: '--no-probe' } }]);
    expect(checkProbe({ error: 'cannot listen on UDP 68: in use', fix: 'skip with --no-probe' }, ctx)[0]).toMatchObject({ status: 'warn', fix: 'skip with --no-probe' });
  });
});

describe('report', () => {
  const checks: Check[] = [
    { id: 'a', name: 'UDP 69 (TFTP)', status: 'ok', detail: 'free on 0.0.0.0' },
    { id: 'b', name: 'Loader ipxe.efi', status: 'fail', detail: 'not in ./loaders\nnor in /usr/lib/ipxe', fix: 'apt-get install ipxe' },
    { id: 'c', name: 'Relay', status: 'ok', detail: 'advice', fix: 'ip helper-address 10.0.0.5' },
    { id: 'd', name: 'Address', status: 'warn', detail: 'several subnets', fix: 'set --advertise-ip' },
  ];

  it('renders text: one block per check, the fix under each problem, a summary', () => {
    const r = makeReport(checks);
    expect(renderText(r)).toBe(
      [
        'chainboot doctor',
        '',
        '[ok  ] UDP 69 (TFTP): free on 0.0.0.0',
        '[FAIL] Loader ipxe.efi: not in ./loaders',
        '       nor in /usr/lib/ipxe',
        '       fix: apt-get install ipxe',
        '[ok  ] Relay: advice',
        '       note: ip helper-address 10.0.0.5',
        '[WARN] Address: several subnets',
        '       fix: set --advertise-ip',
        '',
        '2 checks ok, 1 warning, 1 failure',
        '',
      ].join('\n'),
    );
  });

  it('exit code 1 only when a check failed; JSON carries the checks and counts', () => {
    expect(exitCode(makeReport(checks))).toBe(1);
    expect(exitCode(makeReport(checks.filter((c) => c.status !== 'fail')))).toBe(0);
    const j = JSON.parse(renderJson(makeReport(checks))) as { ok: boolean; counts: Record<string, number>; checks: Check[] };
    expect(j).toMatchObject({ ok: false, counts: { ok: 2, warn: 1, fail: 1 } });
    expect(j.checks.map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('doctor arguments', () => {
  it('parses --json, --no-probe, --listen-seconds, --probe-interface; refuses the rest', () => {
    expect(parseDoctorArgs([])).toEqual({ json: false, probe: { listenSeconds: 4, iface: undefined } });
    expect(parseDoctorArgs(['--json', '--listen-seconds', '2', '--probe-interface=eth1'])).toEqual({ json: true, probe: { listenSeconds: 2, iface: 'eth1' } });
    expect(parseDoctorArgs(['--no-probe']).probe).toBe(false);
    expect(() => parseDoctorArgs(['--listen-seconds', '0'])).toThrow(/0\.5–60/);
    expect(() => parseDoctorArgs(['--probe-interface'])).toThrow(/needs a value/);
    expect(() => parseDoctorArgs(['--frobnicate'])).toThrow(/unknown argument "--frobnicate"/);
  });
});

/**
 * proxyDHCP on real sockets, with real DHCP clients, inside network
 * namespaces this test makes (root required: without it these tests fail
 * with the reason, they do not skip).
 *
 *   client ns ── veth ──┐
 *   dhcp ns ─── veth ──┤ br0 10.91.0.1/24 (server ns: chainboot proxyDHCP)
 *   relay ns ── veth ──┘      relay 10.91.0.254 ── veth ── client2 ns (10.92.0.0/24)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labProblem, type Proc } from './helpers/netns.js';
import { rawRequest, CLIENTS, bootServerRequest } from './helpers/wire.js';
import type { ObservedPacket } from '../helpers/udhcpc.js';

const SERVER = '10.91.0.1';
const HTTP = 'http://10.91.0.1:8080';
const GUID_HEX = '00' + '4c4c454400103380' + '4db8c04f394e3132';

type Packet = ObservedPacket;

interface Event {
  type: 'event';
  mac: string;
  kind: string;
  request: string;
  result: string;
  status: number;
  detail: Record<string, unknown>;
}

const problem = labProblem(['dnsmasq', 'udhcpc', 'dhclient']);

describe('proxyDHCP in network namespaces', () => {
  const lab = new Lab('d');
  let tmp: string;
  let srv: string, cli: string, dhcp: string, relay: string, cli2: string;
  let proxy: Proc;

  beforeAll(async () => {
    if (problem) throw new Error(problem);
    tmp = mkdtempSync(join(tmpdir(), 'chainboot-dhcp-'));
    chmodSync(tmp, 0o755);
    srv = lab.ns('srv');
    cli = lab.ns('cli');
    dhcp = lab.ns('dhcp');
    relay = lab.ns('rly');
    cli2 = lab.ns('cli2');
    lab.ip('-n', srv, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip('-n', srv, 'addr', 'add', `${SERVER}/24`, 'dev', 'br0');
    lab.ip('-n', srv, 'link', 'set', 'br0', 'up');
    const port = (name: string, peer: { ns: string; ifname: string; addr?: string }) => {
      lab.link({ ns: srv, ifname: name }, peer);
      lab.ip('-n', srv, 'link', 'set', name, 'master', 'br0');
    };
    port('pc', { ns: cli, ifname: 'eth0' });
    port('pd', { ns: dhcp, ifname: 'eth0', addr: '10.91.0.2/24' });
    port('pr', { ns: relay, ifname: 'up0', addr: '10.91.0.254/24' });
    lab.link({ ns: relay, ifname: 'down0', addr: '10.92.0.1/24' }, { ns: cli2, ifname: 'eth0' });
    // Replies to the relay's giaddr: a route between our own namespaces only.
    lab.ip('-n', srv, 'route', 'add', '10.92.0.0/24', 'via', '10.91.0.254');

    // No advertiseIp: the server must find 10.91.0.1 itself (client's and relay's subnet).
    proxy = lab.node(srv, 'proxy', 'test/dhcp/helpers/proxy-child.ts', [JSON.stringify({ httpBaseUrl: HTTP, hosts: { '02:00:00:00:00:99': 'ignore' } })], { stdin: true });
    const ready = await proxy.waitJson<{ report: { dhcp: { port?: number }; proxy: { port?: number } } }>('listening', () => true, 'listening line');
    expect(ready.report.dhcp.port).toBe(67);
    expect(ready.report.proxy.port).toBe(4011);
  });

  afterAll(async () => {
    await lab.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function script(name: string, body: string): string {
    const p = join(tmp, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  }

  it('busybox udhcpc sees the proxy offer (BIOS PXE vendor class, option 93, option 97)', async () => {
    const obs = lab.node(cli, 'observer', 'test/dhcp/helpers/observe-68.ts');
    await obs.waitJson('ready', () => true, 'observer ready');
    // The script only reports: udhcpc must not touch the host's files.
    const sh = script('udhcpc.sh', 'echo "udhcpc-script $1 ip=$ip serverid=$serverid boot_file=$boot_file"');
    const udhcpc = lab.spawn(cli, 'udhcpc', 'busybox', ['udhcpc', '-f', '-i', 'eth0', '-s', sh, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', '0x5e:010201', '-x', `0x61:${GUID_HEX}`, '-t', '5', '-T', '2', '-n']);
    // udhcpc took our offer for a lease offer and asks us for it: it read option 54.
    await udhcpc.waitFor(/select for 0\.0\.0\.0, server 10\.91\.0\.1/, 'udhcpc selecting our offer');
    const offer = await obs.waitJson<Packet>('packet', (p) => p.msg === 2 && p.serverId === SERVER, 'proxy offer at the client');
    await udhcpc.stop();
    await obs.stop();

    expect(offer.from).toBe(`${SERVER}:67`);
    expect(offer.yiaddr).toBe('0.0.0.0');
    expect(offer.siaddr).toBe(SERVER);
    expect(offer.vendorClass).toBe('PXEClient');
    expect(offer.file).toBe('undionly.kpxe');
    expect(offer.options['97']).toBe(GUID_HEX);
    expect(offer.sub43).toEqual({ '6': '08' });
    const ev = await proxy.waitJson<Event>('event', (e) => e.detail.xid === offer.xid, 'boot event for the offer');
    expect(ev.kind).toBe('dhcp');
    expect(ev.result).toBe('offer undionly.kpxe');
    expect(ev.detail).toMatchObject({ port: 67, arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', firmware: 'bios', outcome: 'loader', server: SERVER });
  });

  it('with dnsmasq as the DHCP server beside it, dhclient gets both offers and leases from dnsmasq', async () => {
    const leases = join(tmp, 'dnsmasq.leases');
    const dm = lab.spawn(dhcp, 'dnsmasq', '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--no-ping', '--log-facility=-', '--log-dhcp', '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.91.0.100,10.91.0.150,255.255.255.0,1h', `--dhcp-leasefile=${leases}`, `--pid-file=${join(tmp, 'dnsmasq.pid')}`, '--dhcp-authoritative']);
    await dm.waitFor(/DHCP, IP range 10\.91\.0\.100/, 'dnsmasq DHCP ready');
    const obs = lab.node(cli, 'observer2', 'test/dhcp/helpers/observe-68.ts');
    await obs.waitJson('ready', () => true, 'observer ready');

    const conf = join(tmp, 'dhclient.conf');
    writeFileSync(
      conf,
      [
        'option pxe-arch code 93 = unsigned integer 16;',
        'option pxe-uuid code 97 = string;',
        'send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003000";',
        'send pxe-arch 7;',
        `send pxe-uuid ${GUID_HEX.match(/../g)!.join(':')};`,
        // Like PXE firmware: wait a moment to collect every offer, and take an address only from one that has a subnet mask.
        'select-timeout 2;',
        'require subnet-mask;',
        'timeout 20;',
        '',
      ].join('\n'),
    );
    const sh = script('dhclient.sh', 'echo "dhclient-script $reason ip=$new_ip_address"');
    const dhc = lab.spawn(cli, 'dhclient', '/usr/sbin/dhclient', ['-d', '-v', '-1', '-cf', conf, '-sf', sh, '-lf', join(tmp, 'dhclient.leases'), '-pf', join(tmp, 'dhclient.pid'), 'eth0']);
    await dhc.waitFor(/DHCPOFFER of 0\.0\.0\.0 from 10\.91\.0\.1/, 'the proxy offer at dhclient');
    const theirs = await dhc.waitFor(/DHCPOFFER of 10\.91\.0\.1\d\d from 10\.91\.0\.2/, 'the address offer at dhclient');
    const bound = await dhc.waitFor(/dhclient-script BOUND ip=10\.91\.0\.1\d\d/, 'a lease from dnsmasq');
    await dhc.stop();
    await obs.stop();
    await dm.stop();

    // The lease is dnsmasq's, the address it offered.
    expect(bound.split('ip=')[1]).toBe(/DHCPOFFER of (\S+)/.exec(theirs)![1]);
    // What the proxy offer said (dnsmasq's offer is unicast to the new address, which only dhclient's raw socket sees).
    const ours = obs.json<Packet>('packet').find((p) => p.msg === 2 && p.serverId === SERVER)!;
    expect(ours).toBeDefined();
    expect(ours.yiaddr).toBe('0.0.0.0');
    expect(ours.vendorClass).toBe('PXEClient');
    expect(ours.file).toBe('ipxe.efi');
    expect(ours.options['1']).toBeUndefined(); // no subnet mask: nothing about addresses
    const ev = await proxy.waitJson<Event>('event', (e) => e.detail.xid === ours.xid && e.status === 200, 'boot event for the offer');
    expect(ev.detail).toMatchObject({ arch: 7, firmware: 'efi64', bootFile: 'ipxe.efi' });
    // dhclient's REQUEST for its address went to dnsmasq; the proxy left it alone.
    const ignoredReq = await proxy.waitJson<Event>('event', (e) => e.result === 'ignored: request-not-for-boot-server', 'the REQUEST seen and left alone');
    expect(ignoredReq.detail.port).toBe(67);
  });

  it('a client behind a DHCP relay (giaddr) is answered through the relay', async () => {
    const rl = lab.spawn(relay, 'relay', '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--log-dhcp', `--dhcp-relay=10.92.0.1,${SERVER}`, '--interface=down0', `--pid-file=${join(tmp, 'relay.pid')}`]);
    await rl.waitFor(/DHCP relay from 10\.92\.0\.1 to 10\.91\.0\.1/, 'relay ready');
    const obs = lab.node(cli2, 'observer3', 'test/dhcp/helpers/observe-68.ts');
    await obs.waitJson('ready', () => true, 'observer ready');
    const sh = script('udhcpc2.sh', 'echo "udhcpc-script $1"');
    // -B: broadcast flag, as PXE ROMs set it (the relay then broadcasts the offer on the client's segment).
    const udhcpc = lab.spawn(cli2, 'udhcpc2', 'busybox', ['udhcpc', '-f', '-B', '-i', 'eth0', '-s', sh, '-V', 'PXEClient:Arch:00007:UNDI:003000', '-x', '0x5d:0007', '-x', `0x61:${GUID_HEX}`, '-t', '5', '-T', '2', '-n']);
    await udhcpc.waitFor(/select for 0\.0\.0\.0, server 10\.91\.0\.1/, 'udhcpc selecting the relayed proxy offer');
    const offer = await obs.waitJson<Packet>('packet', (p) => p.msg === 2 && p.serverId === SERVER, 'relayed proxy offer at the client');
    await udhcpc.stop();
    await obs.stop();
    await rl.stop();

    expect(offer.giaddr).toBe('10.92.0.1');
    expect(offer.file).toBe('ipxe.efi');
    expect(offer.siaddr).toBe(SERVER);
    const ev = await proxy.waitJson<Event>('event', (e) => e.detail.xid === offer.xid && e.status === 200, 'boot event for the relayed offer');
    expect(ev.detail).toMatchObject({ giaddr: '10.92.0.1', to: '10.92.0.1:67', server: SERVER, firmware: 'efi64' });
  });

  it('answers a unicast REQUEST on port 4011 (EDK2 boot server discovery) and leaves ignored hosts alone', async () => {
    lab.ip('-n', cli, 'addr', 'add', '10.91.0.77/24', 'dev', 'eth0');
    const req = rawRequest(bootServerRequest(CLIENTS.uefi64(), '10.91.0.77', [0, 0])).toString('hex');
    const send = lab.node(cli, 'send4011', 'test/dhcp/helpers/send-request.ts', [`${SERVER}:4011`, req]);
    const reply = await send.waitJson<{ msg: number; from: string; file: string; vendorClass: string }>('reply', () => true, 'ACK from 4011');
    expect(reply).toMatchObject({ msg: 5, from: `${SERVER}:4011`, file: 'ipxe.efi', vendorClass: 'PXEClient' });

    const ign = rawRequest({ ...bootServerRequest(CLIENTS.uefi64(), '10.91.0.77', [0, 0]), mac: '02:00:00:00:00:99' }).toString('hex');
    lab.node(cli, 'send-ignored', 'test/dhcp/helpers/send-request.ts', [`${SERVER}:4011`, ign]);
    const ev = await proxy.waitJson<Event>('event', (e) => e.mac === '02:00:00:00:00:99', 'event for the ignored host');
    expect(ev.result).toBe('ignored: host-ignored');
    expect(ev.status).toBe(204);
  });
});

describe('proxyDHCP beside a DHCP server on the same host', () => {
  const lab = new Lab('b');
  afterAll(() => lab.cleanup());

  it('port 67 taken: the bind error is explained and port 4011 still answers', async () => {
    if (problem) throw new Error(problem);
    const ns = lab.ns('one');
    const peer = lab.ns('two');
    lab.link({ ns, ifname: 'eth0', addr: '10.93.0.1/24' }, { ns: peer, ifname: 'eth0' });
    const dm = lab.spawn(ns, 'dnsmasq', '/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--log-facility=-', '--dhcp-range=10.93.0.100,10.93.0.150,1h', '--dhcp-leasefile=/dev/null', '--pid-file=']);
    await dm.waitFor(/DHCP, IP range/, 'dnsmasq holding port 67');
    const proxy = lab.node(ns, 'proxy', 'test/dhcp/helpers/proxy-child.ts', [JSON.stringify({ httpBaseUrl: 'http://10.93.0.1:8080' })], { stdin: true });
    const ready = await proxy.waitJson<{ report: { dhcp: { port?: number; error?: string }; proxy: { port?: number } } }>('listening', () => true, 'listening line');
    expect(ready.report.dhcp.error).toMatch(/^udp\/67: address already in use \(a DHCP server on this host\? then only port 4011 can be served here, and it must send option 60 "PXEClient"\)/);
    expect(ready.report.proxy.port).toBe(4011);

    const req = rawRequest(bootServerRequest(CLIENTS.bios(), '10.93.0.1', [0, 0])).toString('hex');
    const send = lab.node(ns, 'send', 'test/dhcp/helpers/send-request.ts', ['10.93.0.1:4011', req]);
    const reply = await send.waitJson<{ msg: number; file: string; siaddr: string }>('reply', () => true, 'ACK from 4011');
    expect(reply).toMatchObject({ msg: 5, file: 'undionly.kpxe', siaddr: '10.93.0.1' });
  });
});

/**
 * The listener on loopback only: the port-4011 path (unicast replies to the
 * sender) with ephemeral ports. Nothing here sends to port 67/68 or
 * broadcasts; that happens in netns.test.ts, inside namespaces.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { createProxyDhcpServer, ProxyDhcpConfigError, type HandledKind, type ProxyDhcpServerOptions } from '../../src/dhcp/server.js';
import { createHostLookupCache } from '../../src/dhcp/host-cache.js';
import { decodePacket, messageType } from '../../src/dhcp/packet.js';
import { silentLogger } from '../../src/log.js';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createEventLog } from '../../src/boot/events.js';
import { rawRequest, CLIENTS, bootServerRequest, type RawRequest } from './helpers/wire.js';

const IFACES = () => ({ eth0: [{ address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:00:00:00:00:01', internal: false, cidr: '10.0.0.5/24' }] });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function start(extra: Partial<ProxyDhcpServerOptions> = {}) {
  const handled: HandledKind[] = [];
  const waiters: { n: number; ok: () => void }[] = [];
  const events: Record<string, unknown>[] = [];
  const server = createProxyDhcpServer({
    port: 0,
    proxyPort: 0,
    bindAddress: '127.0.0.1',
    httpBaseUrl: 'http://10.0.0.5:8080',
    hostLookup: () => undefined,
    log: silentLogger,
    interfaces: IFACES,
    events: { record: (e) => void events.push(e as Record<string, unknown>) },
    onHandled: (what) => {
      handled.push(what);
      for (const w of [...waiters]) if (handled.length >= w.n) waiters.splice(waiters.indexOf(w), 1), w.ok();
    },
    ...extra,
  });
  cleanups.push(() => server.close());
  /** Resolves once n packets have been handled in total. */
  const handledCount = (n: number) => new Promise<void>((ok) => (handled.length >= n ? ok() : waiters.push({ n, ok })));
  return { server, handled, events, handledCount };
}

async function client() {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', ok));
  cleanups.push(() => new Promise<void>((ok) => sock.close(() => ok())));
  const replies: Buffer[] = [];
  const waiters: (() => void)[] = [];
  sock.on('message', (m) => {
    replies.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  return {
    send: (b: Buffer, port: number) => sock.send(b, port, '127.0.0.1'),
    next: () => new Promise<Buffer>((ok) => (replies.length ? ok(replies.shift()!) : waiters.push(() => ok(replies.shift()!)))),
    replies,
  };
}

const request = (r: RawRequest = CLIENTS.uefi64()) => rawRequest(bootServerRequest(r, '127.0.0.1', [0, 0]));

describe('proxyDHCP listener', () => {
  it('answers a 4011 REQUEST unicast to the sender, advertising the interface address', async () => {
    const { server, events } = start();
    const report = await server.listen();
    expect(report.dhcp.port).toBeGreaterThan(0);
    const c = await client();
    c.send(request(), report.proxy.port!);
    const reply = decodePacket(await c.next());
    expect(messageType(reply)).toBe(5);
    expect(reply.file).toBe('ipxe.efi');
    expect(reply.siaddr).toBe('10.0.0.5'); // never the loopback it was reached on
    expect(server.counters.acks).toEqual({ efi64: { loader: 1 } });
    expect(events[0]).toMatchObject({ mac: '52:54:00:ab:cd:01', clientIp: '127.0.0.1', kind: 'dhcp', result: 'ack ipxe.efi', status: 200 });
    expect(events[0]!.detail).toMatchObject({ port: 4011, message: 'REQUEST', arch: 7, archName: 'x64 UEFI', vendorClass: 'PXEClient:Arch:00007:UNDI:003000', firmware: 'efi64', outcome: 'loader', bootFile: 'ipxe.efi', mode: 'follow' });
  });

  it('drops and counts malformed packets and keeps serving', async () => {
    const { server, handledCount } = start();
    const { proxy } = await server.listen();
    const c = await client();
    c.send(Buffer.from('not dhcp at all'), proxy.port!);
    c.send(request().subarray(0, 250), proxy.port!);
    const bad = request();
    bad[240 + 3 + 1] = 200; // the second option's length now overruns the packet
    c.send(bad, proxy.port!);
    await handledCount(3);
    expect(server.counters.malformed).toBe(3);
    c.send(request(), proxy.port!);
    expect(messageType(decodePacket(await c.next()))).toBe(5);
  });

  it('rate-limits a flood from one MAC without touching others', async () => {
    const { server, handled, handledCount } = start({ rateLimit: { burst: 2, perSecond: 0.001 } });
    const { proxy } = await server.listen();
    const c = await client();
    for (let i = 0; i < 5; i++) c.send(request(), proxy.port!);
    c.send(request({ ...CLIENTS.uefi64(), mac: '52:54:00:ab:cd:77' }), proxy.port!);
    await handledCount(6);
    expect(handled.filter((h) => h === 'rate-limited')).toHaveLength(3);
    expect(server.counters.rateLimited).toBe(3);
    expect(handled.filter((h) => h === 'answered')).toHaveLength(3);
  });

  it('per-host control comes from the host table (real store)', async () => {
    const store = createStore(openDb(':memory:'));
    store.createHost({ mac: '52:54:00:ab:cd:01', dhcpMode: 'ignore' });
    const { server, events, handledCount } = start({ hostLookup: (mac) => store.hostAndProfile(mac).host });
    const { proxy } = await server.listen();
    const c = await client();
    c.send(request(), proxy.port!);
    await handledCount(1);
    expect(server.counters.ignored).toEqual({ 'host-ignored': 1 });
    expect(events[0]).toMatchObject({ result: 'ignored: host-ignored', status: 204 });
  });

  it('per-host control through the host lookup cache, as serve wires it', async () => {
    const db = openDb(':memory:');
    const store = createStore(db);
    store.createHost({ mac: '52:54:00:ab:cd:01', dhcpMode: 'ignore' });
    const { server, handledCount } = start({ hostLookup: createHostLookupCache(db.$client, (mac) => store.hostAndProfile(mac).host) });
    const { proxy } = await server.listen();
    const c = await client();
    c.send(request(), proxy.port!);
    await handledCount(1);
    expect(server.counters.ignored).toEqual({ 'host-ignored': 1 });
    store.updateHost('52:54:00:ab:cd:01', { dhcpMode: 'follow' });
    c.send(request(), proxy.port!);
    await handledCount(2);
    expect(server.counters.acks).toEqual({ efi64: { loader: 1 } });
  });

  it('writes through the real boot event log', async () => {
    const store = createStore(openDb(':memory:'));
    const log = createEventLog({ store, intervalMs: 60_000 });
    const { server, handledCount } = start({ events: log });
    const { proxy } = await server.listen();
    const c = await client();
    c.send(request(), proxy.port!);
    await handledCount(1);
    log.flush();
    const rows = store.listEvents({ mac: '52:54:00:ab:cd:01', limit: 10 }) as unknown as { kind: string; result: string; detail: Record<string, unknown> }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'dhcp', result: 'ack ipxe.efi' });
    expect(rows[0]!.detail).toMatchObject({ firmware: 'efi64', port: 4011 });
    expect(log.pending).toBe(0);
    expect(log.dropped).toBe(0);
  });

  it('a retransmitted transaction is one boot event with a count; a new xid is a new event', async () => {
    const store = createStore(openDb(':memory:'));
    const log = createEventLog({ store, intervalMs: 60_000 });
    const { server, handledCount } = start({ events: log });
    const { proxy } = await server.listen();
    const c = await client();
    const again = request();
    for (let i = 0; i < 3; i++) c.send(again, proxy.port!);
    c.send(request({ ...CLIENTS.uefi64(), xid: 0x01020304 }), proxy.port!);
    await handledCount(4);
    // Every packet is still answered: only the log coalesces.
    expect(server.counters.acks).toEqual({ efi64: { loader: 4 } });
    expect(log.pending).toBe(2);
    await log.flush();
    const rows = store.listEvents({ mac: '52:54:00:ab:cd:01', limit: 10 }) as unknown as { result: string; at: number; detail: Record<string, unknown> }[];
    expect(rows).toHaveLength(2);
    const first = rows.find((r) => r.detail.xid === CLIENTS.uefi64().xid)!;
    expect(first).toMatchObject({ result: 'ack ipxe.efi', detail: { count: 3, port: 4011, firmware: 'efi64' } });
    expect(first.detail.lastAt).toBeGreaterThanOrEqual(first.at);
    const second = rows.find((r) => r.detail.xid === 0x01020304)!;
    expect(second.detail.count).toBeUndefined();
  });

  it('the same xid with a different outcome is not merged', async () => {
    const store = createStore(openDb(':memory:'));
    const log = createEventLog({ store, intervalMs: 60_000 });
    let mode: 'follow' | 'ignore' = 'follow';
    const { server, handledCount } = start({ events: log, hostLookup: () => ({ dhcpMode: mode }) });
    const { proxy } = await server.listen();
    const c = await client();
    c.send(request(), proxy.port!);
    await handledCount(1);
    mode = 'ignore';
    c.send(request(), proxy.port!);
    await handledCount(2);
    await log.flush();
    const rows = store.listEvents({ mac: '52:54:00:ab:cd:01', limit: 10 }) as unknown as { result: string; detail: Record<string, unknown> }[];
    expect(rows.map((r) => r.result).sort()).toEqual(['ack ipxe.efi', 'ignored: host-ignored']);
    expect(rows.every((r) => r.detail.count === undefined)).toBe(true);
  });

  it('no usable address to advertise: not answered, reason recorded', async () => {
    const { server, events, handledCount } = start({ interfaces: () => ({ lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }] }) });
    const { proxy } = await server.listen();
    const c = await client();
    c.send(request(), proxy.port!);
    await handledCount(1);
    expect(events[0]).toMatchObject({ result: 'ignored: no-server-address', status: 204 });
    expect(String((events[0]!.detail as Record<string, unknown>).why)).toMatch(/set advertiseIp \(CHAINBOOT_ADVERTISE_IP\)/);
  });

  it('the DHCP port taken: explained, and 4011 keeps working', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((ok) => holder.bind(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => holder.close(() => ok())));
    const taken = holder.address().port;
    const { server } = start({ port: taken });
    const report = await server.listen();
    expect(report.dhcp.error).toMatch(new RegExp(`^udp/${taken}: address already in use; "ss -lnpu 'sport = :${taken}'" shows the holder`));
    const c = await client();
    c.send(request(), report.proxy.port!);
    expect(messageType(decodePacket(await c.next()))).toBe(5);
  });

  it('both ports taken: listen fails with both explanations', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((ok) => holder.bind(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => holder.close(() => ok())));
    const taken = holder.address().port;
    const { server } = start({ port: taken, proxyPort: taken });
    await expect(server.listen()).rejects.toThrow(new RegExp(`proxyDHCP cannot listen:\\n  udp/${taken}: address already in use.*\\n  udp/${taken}: address already in use`));
  });

  it('refuses a bad configuration, naming every problem', () => {
    let err: unknown;
    try {
      createProxyDhcpServer({
        httpBaseUrl: 'ftp://x',
        advertiseIp: '127.0.0.1',
        hostLookup: () => undefined,
        log: silentLogger,
        macPrefixArch: { 'zz:00': 'arm64', 'd8:3a:dd': 'rpi5' },
        replyDelayMs: -1,
        menu: { display: 'sometimes' as 'never', timeoutSec: 300 },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProxyDhcpConfigError);
    expect((err as ProxyDhcpConfigError).problems).toEqual([
      'httpBaseUrl ftp://x must be http:// or https://',
      'advertiseIp 127.0.0.1 must be a unicast IPv4 address of this host (not 0.0.0.0 or loopback)',
      'macPrefixArch: "zz:00" is not a MAC prefix like d8:3a:dd',
      'macPrefixArch: zz:00 → "arm64" but loaders.arm64 is not set',
      'macPrefixArch: d8:3a:dd → "rpi5" but loaders.rpi5 is not set',
      'replyDelayMs -1 must be 0–10000',
      'menu.display "sometimes" must be never, always or onkey',
      'menu.timeoutSec 300 must be 1–254',
    ]);
  });
});

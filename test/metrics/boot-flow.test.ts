/**
 * One machine's boot through the real listeners on loopback — proxyDHCP on
 * ephemeral ports (packets built byte by byte), TFTP with a raw client, HTTP
 * with fetch — sharing one stack: the DHCP, TFTP and HTTP counters on
 * /metrics move by exactly what happened, and every step's event and log
 * line carries the same boot id until the machine boots again.
 *
 * Replies to the "relay" (giaddr 127.0.0.1) go to 127.0.0.1:67, where nothing
 * listens: nothing leaves loopback, nothing broadcasts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeStack } from '../helpers/services.js';
import { createMetrics } from '../../src/metrics/index.js';
import { createProxyDhcpServer, type HandledKind } from '../../src/dhcp/server.js';
import { decodePacket, messageType } from '../../src/dhcp/packet.js';
import { createTftpServer } from '../../src/tftp/server.js';
import { encodeAck, encodeRequest } from '../../src/tftp/packet.js';
import { bootServerRequest, CLIENTS, rawRequest, type RawRequest } from '../dhcp/helpers/wire.js';
import { bytes, captureLogger, RawClient, type Received } from '../tftp/helpers.js';
import { tempDir } from '../http/assets-helpers.js';
import { appOver, listen, scrape } from './helpers.js';

const MAC = '52:54:00:ab:cd:01'; // CLIENTS.uefi64
const LOADER = bytes(70_000, 7);
const SMALL = bytes(1000, 3);
const KERNEL = Buffer.from('KERNEL'.repeat(1000));

let tmp: ReturnType<typeof tempDir>;
let loaderRoot: string;
let assetRoot: string;

beforeAll(() => {
  tmp = tempDir('chainboot-bootflow-');
  loaderRoot = join(tmp.dir, 'loaders');
  assetRoot = join(tmp.dir, 'assets');
  mkdirSync(loaderRoot);
  mkdirSync(join(assetRoot, 'debian12'), { recursive: true });
  writeFileSync(join(loaderRoot, 'ipxe.efi'), LOADER);
  writeFileSync(join(loaderRoot, 'small.bin'), SMALL);
  writeFileSync(join(assetRoot, 'debian12', 'linux'), KERNEL);
});
afterAll(() => tmp.remove());

/**
 * Reads a whole windowsize-1, blksize-512 transfer, acknowledging each block.
 * A DATA sent again (the server's timeout is short here) is skipped.
 */
async function download(c: RawClient, first: Received): Promise<Buffer> {
  const parts: Buffer[] = [];
  let r = first;
  for (let want = 1; ; r = await c.next(`DATA ${want}`)) {
    if (r.packet.op !== 'data') throw new Error(`expected DATA, got ${r.packet.op}`);
    if (r.packet.block !== want) continue;
    parts.push(r.packet.data);
    await c.send(encodeAck(want), r.from.port);
    if (r.packet.data.length < 512) return Buffer.concat(parts);
    want++;
  }
}

/** Via a relay at 127.0.0.1, so answers to port 67 go to loopback, never to a broadcast address. */
const relayed = (r: RawRequest): RawRequest => ({ ...r, giaddr: '127.0.0.1', flags: 0 });

describe('one boot, DHCP → TFTP → HTTP, on loopback', () => {
  it('moves the DHCP, TFTP and HTTP counters by what happened and ties every step to one boot id', async () => {
    const s = await makeStack({ assetRoot, loaderRoot });
    const metrics = createMetrics({ taskCounts: () => s.backend.taskCounts(), boot: s.boot, events: s.events });
    const dhcpLog = captureLogger();
    const tftpLog = captureLogger();
    const cleanups: (() => unknown)[] = [];

    // Packets handled by proxyDHCP, awaited by count (never by time).
    let handled = 0;
    const waiters: { n: number; ok: () => void }[] = [];
    const handledCount = (n: number) => new Promise<void>((ok) => (handled >= n ? ok() : waiters.push({ n, ok })));

    // TFTP transfers end in a boot event: awaited through the event log.
    const tftpEvents: { request: string; detail: Record<string, unknown> }[] = [];
    const tftpWaiters: (() => void)[] = [];
    const events = {
      record: (e: Parameters<typeof s.events.record>[0], f?: Record<string, string>, k?: string) => {
        s.events.record(e, f, k);
        if (e.kind === 'tftp') {
          tftpEvents.push({ request: e.request, detail: e.detail as Record<string, unknown> });
          tftpWaiters.splice(0).forEach((w) => w());
        }
      },
    };
    const tftpEnded = (n: number) => new Promise<void>((ok) => (tftpEvents.length >= n ? ok() : tftpWaiters.push(() => tftpEvents.length >= n && ok())));

    const ready: Record<string, true | string> = { dhcp: 'not listening yet', tftp: 'not listening yet' };
    const srv = await listen(appOver(s, { metrics, assetRoot, loaderRoot, readiness: () => ready }));
    cleanups.push(() => srv.close());
    try {
      expect((await fetch(`${srv.url}/readyz`)).status).toBe(503);

      const dhcp = createProxyDhcpServer({
        port: 0,
        proxyPort: 0,
        bindAddress: '127.0.0.1',
        advertiseIp: '10.0.0.5',
        httpBaseUrl: s.baseUrl,
        hostLookup: s.backend.hostLookup,
        log: dhcpLog.log,
        events: s.events,
        bootId: s.boot.boots.dhcp,
        onHandled: (_what: HandledKind) => {
          handled++;
          for (const w of [...waiters]) if (handled >= w.n) waiters.splice(waiters.indexOf(w), 1), w.ok();
        },
      });
      cleanups.push(() => dhcp.close());
      const ports = await dhcp.listen();
      metrics.watchDhcp(dhcp);
      ready.dhcp = true;

      const tftp = createTftpServer({
        root: loaderRoot,
        host: '127.0.0.1',
        port: 0,
        log: tftpLog.log,
        events,
        macForIp: (ip) => s.boot.macForIp(ip),
        bootIdForIp: (ip) => s.boot.boots.forIp(ip),
        timeoutMs: 20,
        retries: 5,
      });
      cleanups.push(() => tftp.close());
      const { port: tftpPort } = await tftp.listen();
      metrics.watchTftp(tftp);
      ready.tftp = true;
      expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);

      const sock = dgram.createSocket('udp4');
      await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', ok));
      cleanups.push(() => new Promise<void>((ok) => sock.close(() => ok())));
      const replies: Buffer[] = [];
      const replyWaiters: (() => void)[] = [];
      sock.on('message', (m) => {
        replies.push(m);
        replyWaiters.splice(0).forEach((w) => w());
      });
      const nextReply = () => new Promise<Buffer>((ok) => (replies.length ? ok(replies.shift()!) : replyWaiters.push(() => ok(replies.shift()!))));
      const send = (b: Buffer, port: number) => sock.send(b, port, '127.0.0.1');

      // 1. The firmware's DISCOVER: a proxy offer (answered to the relay).
      const fw = CLIENTS.uefi64();
      send(rawRequest(relayed(fw)), ports.dhcp.port!);
      await handledCount(1);
      // 2. Its REQUEST to the site's DHCP server, with the address it takes (option 50): not ours to answer.
      const opts = fw.options.filter(([c]) => c !== 53);
      send(rawRequest(relayed({ ...fw, options: [[53, [3]], [50, [127, 0, 0, 1]], [54, [10, 0, 0, 1]], ...opts] })), ports.dhcp.port!);
      await handledCount(2);
      // 3. The boot server REQUEST on 4011: an ACK back to us.
      send(rawRequest(bootServerRequest(fw, '127.0.0.1', [0, 0])), ports.proxy.port!);
      expect(messageType(decodePacket(await nextReply()))).toBe(5);

      // 4. TFTP: the loader; a name that is not there; a transfer with a lost DATA. One client
      // port each (as firmware does), so a late retransmission never lands in the next exchange.
      const tftpClient = async () => {
        const c = await RawClient.open();
        cleanups.push(() => c.close());
        return c;
      };
      const c1 = await tftpClient();
      await c1.send(encodeRequest('rrq', 'ipxe.efi', 'octet', []), tftpPort);
      expect((await download(c1, await c1.next('DATA 1'))).equals(LOADER)).toBe(true);
      await tftpEnded(1);
      const c2 = await tftpClient();
      await c2.send(encodeRequest('rrq', 'missing.efi', 'octet', []), tftpPort);
      expect((await c2.next('ERROR')).packet).toMatchObject({ op: 'error', code: 1 });
      await tftpEnded(2);
      const c3 = await tftpClient();
      await c3.send(encodeRequest('rrq', 'small.bin', 'octet', []), tftpPort);
      await c3.nextOf('data'); // "lost": not acknowledged
      const again = await c3.nextOf('data', 'DATA 1 sent again');
      expect(again.packet.block).toBe(1);
      expect((await download(c3, again)).equals(SMALL)).toBe(true);
      await tftpEnded(3);

      // 5. iPXE asks again (user class iPXE): the offer is the boot script URL.
      const ipxe = CLIENTS.ipxe();
      send(rawRequest(relayed({ ...ipxe, mac: MAC, options: ipxe.options.map(([k, v]) => (k === 93 ? [93, [0, 7]] : k === 60 ? [60, 'PXEClient:Arch:00007:UNDI:003001'] : [k, v])) })), ports.dhcp.port!);
      await handledCount(4);

      // 6. HTTP: the entry script, the host's script, a kernel.
      expect((await fetch(`${srv.url}/boot.ipxe`)).status).toBe(200);
      const script = await fetch(`${srv.url}/ipxe?mac=${MAC}&arch=x86_64&platform=efi`);
      expect(script.status).toBe(200);
      await script.text();
      const kernel = Buffer.from(await (await fetch(`${srv.url}/assets/debian12/linux`)).arrayBuffer());
      expect(kernel.equals(KERNEL)).toBe(true);
      await srv.settled();

      // 7. The machine reboots: a firmware DISCOVER of a new transaction.
      send(rawRequest(relayed({ ...fw, xid: 0x0abcdef0 })), ports.dhcp.port!);
      await handledCount(5);

      const m = await scrape(srv.url);
      expect(m.get('chainboot_dhcp_packets_received_total')).toBe(5);
      expect(m.get('chainboot_dhcp_replies_total', { message: 'offer', arch: 'efi64', outcome: 'loader' })).toBe(2);
      // iPXE's own DHCP: the family is "ipxe" (its answer does not depend on the architecture).
      expect(m.get('chainboot_dhcp_replies_total', { message: 'offer', arch: 'ipxe', outcome: 'boot-script' })).toBe(1);
      expect(m.get('chainboot_dhcp_replies_total', { message: 'ack', arch: 'efi64', outcome: 'loader' })).toBe(1);
      expect(m.sum('chainboot_dhcp_replies_total')).toBe(4);
      expect(m.get('chainboot_dhcp_ignored_total', { reason: 'request-not-for-boot-server' })).toBe(1);
      expect(m.get('chainboot_dhcp_packets_malformed_total')).toBe(0);

      expect(m.get('chainboot_tftp_transfers_started_total')).toBe(2);
      expect(m.get('chainboot_tftp_transfers_finished_total', { result: 'complete' })).toBe(2);
      expect(m.get('chainboot_tftp_transfers_finished_total', { result: 'failed' })).toBe(0);
      expect(m.get('chainboot_tftp_bytes_total')).toBe(LOADER.length + SMALL.length);
      expect(m.get('chainboot_tftp_errors_total')).toBe(1); // the "not found"
      const retransmits = tftpEvents.reduce((n, e) => n + ((e.detail.retransmits as number | undefined) ?? 0), 0);
      expect(retransmits).toBeGreaterThanOrEqual(1);
      expect(m.get('chainboot_tftp_retransmits_total')).toBe(retransmits);
      expect(m.get('chainboot_tftp_active_transfers')).toBe(0);

      expect(m.get('chainboot_renders_total', { kind: 'script' })).toBe(1);
      expect(m.get('chainboot_renders_total', { kind: 'entry' })).toBe(1);
      expect(m.get('chainboot_http_requests_total', { method: 'GET', route: '/assets/*', status: '2xx' })).toBe(1);
      expect(m.get('chainboot_http_response_bytes_total', { method: 'GET', route: '/assets/*', status: '2xx' })).toBe(KERNEL.length);
      expect(m.get('chainboot_boots_started_total')).toBe(2);

      // Every step of the first boot has one id; the reboot has another.
      await s.events.flush();
      const all = (await s.store.listEvents({ limit: 100 })).reverse();
      const bootOf = (e: (typeof all)[number]) => (e.detail as { boot?: string } | null)?.boot;
      const steps = all.map((e) => `${e.kind} ${e.request}`);
      expect(steps).toEqual([
        expect.stringMatching(/^dhcp DISCOVER/),
        expect.stringMatching(/^dhcp REQUEST/),
        expect.stringMatching(/^dhcp REQUEST/),
        'tftp ipxe.efi',
        'tftp missing.efi',
        'tftp small.bin',
        expect.stringMatching(/^dhcp DISCOVER/),
        'entry /boot.ipxe',
        'script /ipxe',
        'asset /assets/debian12/linux',
        expect.stringMatching(/^dhcp DISCOVER/),
      ]);
      const first = bootOf(all[0]!)!;
      expect(first).toMatch(/^[0-9a-f]{8}$/);
      expect(all.slice(0, -1).map(bootOf)).toEqual(all.slice(0, -1).map(() => first));
      const second = bootOf(all.at(-1)!)!;
      expect(second).toMatch(/^[0-9a-f]{8}$/);
      expect(second).not.toBe(first);
      // TFTP and asset events name the MAC, learnt from the DHCP REQUEST's option 50.
      expect(all.filter((e) => e.kind === 'tftp' || e.kind === 'asset').map((e) => e.mac)).toEqual([MAC, MAC, MAC, MAC]);

      // Log lines: DHCP (info) and TFTP (debug for a transfer, info for a failure) carry the id too.
      const dhcpLines = dhcpLog.lines().filter((l) => l.mac === MAC);
      expect(dhcpLines.length).toBeGreaterThanOrEqual(4);
      expect(dhcpLines.slice(0, -1).every((l) => l.boot === first)).toBe(true);
      expect(dhcpLines.at(-1)!.boot).toBe(second);
      const tftpLines = tftpLog.lines().filter((l) => typeof l.file === 'string');
      expect(tftpLines.map((l) => [String(l.file).split('/').pop(), l.boot])).toEqual([
        ['ipxe.efi', first],
        ['missing.efi', first],
        ['small.bin', first],
      ]);
    } finally {
      for (const c of cleanups.reverse()) await c();
    }
  });
});

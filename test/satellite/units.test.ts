/**
 * The satellite's pure parts and its pieces against a small stand-in centre
 * on loopback: settings, health transitions, the entry script (and what it
 * refuses to write into iPXE), the event queue's bound, loader sync by
 * sha256 (a download that fails its check is never installed), host modes
 * with their ETag.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { serve as serveHttp, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { ConfigError, loadConfig } from '../../src/config.js';
import { configChanges } from '../../src/lifecycle.js';
import { silentLogger } from '../../src/log.js';
import { initialHealth, nextHealth, checkUpstream } from '../../src/satellite/health.js';
import { ipxeText, satelliteEntryScript } from '../../src/satellite/script.js';
import { safeScriptUrl } from '../../src/satellite/protocol.js';
import { createEventForwarder, toWire } from '../../src/satellite/forwarder.js';
import { createLoaderSync } from '../../src/satellite/loader-sync.js';
import { createFollower } from '../../src/satellite/follow.js';
import { dhcpLiveFor, satelliteLoaderDir } from '../../src/satellite/index.js';
import { satelliteApp } from '../../src/satellite/http.js';
import { createUpstreamHealth } from '../../src/satellite/health.js';

const TOKEN = 'satellite-token-0123456789';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function problems(argv: string[]): string[] {
  try {
    loadConfig({ argv });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('satellite settings', () => {
  it('a satellite needs upstream and the token; every problem is named at once', () => {
    expect(problems(['--role', 'satellite'])).toEqual([expect.stringContaining('upstream is required for --role satellite'), expect.stringContaining('satelliteToken is required for --role satellite')]);
    const cfg = loadConfig({ argv: ['--role', 'satellite', '--upstream', 'http://10.0.0.5:8080/', '--satellite-token', TOKEN, '--site', 'branch-1'] });
    expect(cfg).toMatchObject({ role: 'satellite', upstream: 'http://10.0.0.5:8080', site: 'branch-1', upstreamCheckInterval: 1, loaderSyncInterval: 60, hostSyncInterval: 10 });
  });

  it.each([
    [['--role', 'edge'], '"edge" must be central or satellite'],
    [['--upstream', 'http://10.0.0.5:8080'], 'upstream is only for --role satellite'],
    [['--site', 'branch'], 'site is only for --role satellite'],
    [['--satellite-token', 'short'], 'satelliteToken must be at least 16 characters'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'ftp://x'], 'must be an http:// or https:// URL'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'http://x/${net0/mac}'], 'may hold only letters'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'http://x/\nshell'], 'may hold only letters'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'http://x/?a=1'], 'must not carry a query'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'http://u:p@x/'], 'must not carry a user name'],
    [['--role', 'satellite', '--satellite-token', TOKEN, '--upstream', 'http://x', '--site', 'a b'], 'must be a site name'],
    [['--upstream-check-interval', '0'], 'is not a number of seconds'],
  ])('refuses %j', (argv, message) => {
    expect(problems(argv).join('\n')).toContain(message);
  });

  it('role, upstream, site and the token need a restart; the intervals apply live', () => {
    const a = loadConfig({ argv: ['--role', 'satellite', '--upstream', 'http://a:1', '--satellite-token', TOKEN] });
    const b = loadConfig({ argv: ['--role', 'satellite', '--upstream', 'http://b:1', '--satellite-token', TOKEN + 'x', '--site', 's', '--loader-sync-interval', '5', '--host-sync-interval', '3', '--upstream-check-interval', '2'] });
    const ch = configChanges(a, b);
    expect(ch.restart.sort()).toEqual(['satelliteToken', 'site', 'upstream']);
    expect(ch.live.sort()).toEqual(['hostSyncInterval', 'loaderSyncInterval', 'upstreamCheckInterval']);
    expect(configChanges(loadConfig({}), a).restart).toContain('role');
  });

  it('keeps loaders in <dataDir>/loaders unless a loader root is set', () => {
    expect(satelliteLoaderDir({ dataDir: '/var/lib/cb', loaderRoot: './boot-assets/loaders' })).toBe('/var/lib/cb/loaders');
    expect(satelliteLoaderDir({ dataDir: '/var/lib/cb', loaderRoot: '/srv/loaders' })).toBe('/srv/loaders');
  });

  it('puts the site’s loader and menu overrides over the configured proxyDHCP settings', () => {
    const cfg = loadConfig({ argv: ['--role', 'satellite', '--upstream', 'http://a:1', '--satellite-token', TOKEN] });
    expect(dhcpLiveFor(cfg, null)).toMatchObject({ loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi' }, menu: undefined });
    const s = dhcpLiveFor(cfg, { name: 'b', loaders: { efi64: 'snponly.efi' }, menuDisplay: 'onkey', bootBaseUrl: '' });
    expect(s.loaders).toEqual({ bios: 'undionly.kpxe', efi64: 'snponly.efi' });
    expect(s.menu).toMatchObject({ display: 'onkey', timeoutSec: 10 });
  });
});

describe('upstream health', () => {
  it('starts down, logs the first result and each change once', () => {
    let s = initialHealth(0);
    expect(s.up).toBe(false);
    let r = nextHealth(s, null, 10);
    expect(r.transition).toBe('up');
    s = r.state;
    r = nextHealth(s, null, 20);
    expect(r.transition).toBeNull();
    expect(r.state.since).toBe(10);
    r = nextHealth(r.state, 'connect ECONNREFUSED', 30);
    expect(r).toMatchObject({ transition: 'down', state: { up: false, since: 30, lastError: 'connect ECONNREFUSED' } });
    r = nextHealth(r.state, 'connect ECONNREFUSED', 40);
    expect(r.transition).toBeNull();
    // A first check that fails is reported too: "down" was only assumed before.
    expect(nextHealth(initialHealth(0), 'no answer', 5).transition).toBe('down');
  });

  it('a refused connection and a non-2xx answer are failures with their reason', async () => {
    // A port just freed: nothing listens there.
    const free = await new Promise<number>((ok) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => ok(port));
      });
    });
    const refused = await checkUpstream(`http://127.0.0.1:${free}`, 1000);
    expect(refused).toMatch(/ECONNREFUSED/);
    const fake = (async () => new Response('no', { status: 503 })) as typeof fetch;
    expect(await checkUpstream('http://x', 1000, fake)).toBe('GET /healthz answered 503');
    const ok = (async () => new Response('{}', { status: 200 })) as typeof fetch;
    expect(await checkUpstream('http://x', 1000, ok)).toBeNull();
  });
});

describe('entry script', () => {
  it('chains to the centre while it is up', () => {
    const s = satelliteEntryScript({ up: true, target: 'http://10.95.0.1:8080' });
    expect(s.failSafe).toBe(false);
    expect(s.body).toBe(
      [
        '#!ipxe',
        '# chainboot satellite: the centre decides what this machine boots.',
        'chain --autofree http://10.95.0.1:8080/boot.ipxe || goto failed',
        'exit 0',
        '',
        ':failed',
        "# The centre went away between the satellite's last check and this chain:",
        '# hand back to the firmware, which boots the next device.',
        'echo chainboot satellite: could not load http://10.95.0.1:8080/boot.ipxe',
        'echo chainboot satellite: handing back to the firmware to try the next boot device',
        'exit 1',
        '',
      ].join('\n'),
    );
  });

  it('boots the local disk at once while it is down, saying why', () => {
    const s = satelliteEntryScript({ up: false, target: 'http://10.95.0.1:8080', reason: 'connect ECONNREFUSED 10.95.0.1:8080' });
    expect(s.failSafe).toBe(true);
    const commands = s.body.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(commands).toEqual(['echo chainboot satellite: the centre is unreachable (connect ECONNREFUSED 10.95.0.1:8080)', 'echo chainboot satellite: booting the local disk', 'exit']);
    expect(s.body).not.toMatch(/^chain /m);
  });

  it('never writes an unsafe URL or reason into the script', () => {
    for (const target of ['http://x/\nshell', 'http://x/${net0/mac}', 'http://x/ && shell', 'http://x/"', 'javascript:alert(1)', 'http://u:p@x']) {
      const s = satelliteEntryScript({ up: true, target });
      expect(s.failSafe).toBe(true);
      expect(s.body).not.toContain(target);
      expect(s.body.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('echo '))).toEqual(['exit']);
    }
    const s = satelliteEntryScript({ up: false, target: 'http://x', reason: 'evil\nshell ${x} "q" || reboot' });
    for (const line of s.body.split('\n').filter((l) => l.startsWith('echo'))) expect(line).not.toMatch(/[$"|\\]/);
    expect(s.body.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('echo '))).toEqual(['exit']);
    expect(ipxeText('a\nb ${c} && d')).toBe('a b c d');
    expect(safeScriptUrl('https://[fd00::1]:8443/chainboot/')).toBe('https://[fd00::1]:8443/chainboot');
  });
});

describe('satellite HTTP', () => {
  function app(metricsToken?: string) {
    const up = 'http://10.95.0.1:8080';
    const dir = mkdtempSync(join(tmpdir(), 'cb-sat-http-'));
    writeFileSync(join(dir, 'undionly.kpxe'), 'loader bytes');
    return satelliteApp({
      upstream: up,
      site: 'branch',
      // Not started: the state before the first check, which must already be fail safe.
      health: createUpstreamHealth({ url: up, intervalMs: 1000, log: silentLogger }),
      loaders: createLoaderSync({ upstream: up, token: TOKEN, dir, log: silentLogger }),
      follow: createFollower({ upstream: up, token: TOKEN, log: silentLogger }),
      events: createEventForwarder({ upstream: up, token: TOKEN, log: silentLogger }),
      loaderDir: dir,
      log: silentLogger,
      listeners: () => ({ tftp: true, dhcp: 'proxyDHCP not running: udp/67: address already in use' }),
      metricsToken: () => metricsToken,
    });
  }

  it('is fail safe before the first check, says so on /readyz and /healthz, and serves its local loaders', async () => {
    const a = app();
    const entry = await a.request('/boot.ipxe');
    expect(entry.status).toBe(200);
    expect(await entry.text()).toMatch(/^echo chainboot satellite: the centre is unreachable \(not checked yet\)\n[\s\S]*^exit$/m);
    const ready = await a.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, checks: { upstream: 'centre unreachable: clients are sent to their local disk (not checked yet)', tftp: 'ok', dhcp: expect.stringContaining('address already in use') } });
    expect(await (await a.request('/healthz')).json()).toMatchObject({ ok: true, role: 'satellite', site: 'branch', upstream: { url: 'http://10.95.0.1:8080', up: false }, loaderSync: { lastSync: null } });
    expect(await (await a.request('/loaders/undionly.kpxe')).text()).toBe('loader bytes');
    expect((await a.request('/loaders/..%2Fetc%2Fpasswd')).status).toBe(404);
    expect(await (await a.request('/metrics')).text()).toContain('\nchainboot_satellite_upstream_up 0\n');
  });

  it('wants the metrics token when one is set', async () => {
    const a = app('metrics-token-0123456789');
    expect((await a.request('/metrics')).status).toBe(401);
    expect((await a.request('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await a.request('/metrics', { headers: { authorization: 'Bearer metrics-token-0123456789' } })).status).toBe(200);
  });
});

describe('event forwarder', () => {
  const rec = (i: number) => ({ mac: '52:54:00:00:00:01', clientIp: '10.96.0.50', kind: 'dhcp', request: `DISCOVER ${i}`, result: 'offer', status: 200, detail: { i } });

  it('keeps at most maxQueued, dropping the oldest and counting them; sends the rest when the centre takes them', async () => {
    const posted: { satellite?: string; events: { request: string }[] }[] = [];
    let down = true;
    const fake = (async (_url: string, init: RequestInit) => {
      if (down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } });
      posted.push(JSON.parse(String(init.body)));
      return new Response('{}', { status: 202 });
    }) as unknown as typeof fetch;
    const f = createEventForwarder({ upstream: 'http://c', token: TOKEN, satellite: 'branch', log: silentLogger, maxQueued: 5, batchSize: 2, fetch: fake });
    for (let i = 0; i < 8; i++) f.record(rec(i));
    expect(f.stats).toMatchObject({ queued: 5, dropped: 3 });
    expect(await f.flush()).toBe(false);
    expect(f.stats).toMatchObject({ queued: 5, dropped: 3, lastError: 'connect ECONNREFUSED' });
    down = false;
    expect(await f.flush()).toBe(true);
    expect(posted.map((p) => p.events.length)).toEqual([2, 2, 1]);
    expect(posted.flatMap((p) => p.events.map((e) => e.request))).toEqual(['DISCOVER 3', 'DISCOVER 4', 'DISCOVER 5', 'DISCOVER 6', 'DISCOVER 7']);
    expect(posted[0]!.satellite).toBe('branch');
    expect(f.stats).toMatchObject({ queued: 0, sent: 5, dropped: 3 });
    // It learnt the client's MAC for TFTP events, which know only addresses.
    expect(f.macForIp('10.96.0.50')).toBe('52:54:00:00:00:01');
  });

  it('counts a retransmitted DHCP transaction on its queued event instead of queueing it again', async () => {
    const posted: { events: { request: string; detail: { count?: number } }[] }[] = [];
    const fake = (async (_u: string, init: RequestInit) => (posted.push(JSON.parse(String(init.body))), new Response('{}', { status: 202 }))) as unknown as typeof fetch;
    const f = createEventForwarder({ upstream: 'http://c', token: TOKEN, log: silentLogger, fetch: fake });
    f.record(rec(1), undefined, 'dhcp 52:54:00:00:00:01 1 dhcp 200 offer');
    f.record(rec(1), undefined, 'dhcp 52:54:00:00:00:01 1 dhcp 200 offer');
    f.record(rec(1), undefined, 'dhcp 52:54:00:00:00:01 1 dhcp 200 offer');
    f.record(rec(2), undefined, 'dhcp 52:54:00:00:00:01 2 dhcp 200 offer');
    expect(f.stats.queued).toBe(2);
    await f.flush();
    expect(posted[0]!.events.map((e) => [e.request, e.detail.count])).toEqual([
      ['DISCOVER 1', 3],
      ['DISCOVER 2', undefined],
    ]);
    // Sent: a later repeat is a new event.
    f.record(rec(1), undefined, 'dhcp 52:54:00:00:00:01 1 dhcp 200 offer');
    expect(f.stats.queued).toBe(1);
  });

  it('drops a batch the centre refuses (400) instead of blocking the queue', async () => {
    let n = 0;
    const fake = (async () => (++n === 1 ? new Response('{"error":"bad"}', { status: 400 }) : new Response('{}', { status: 202 }))) as typeof fetch;
    const f = createEventForwarder({ upstream: 'http://c', token: TOKEN, log: silentLogger, batchSize: 1, fetch: fake });
    f.record(rec(1));
    f.record(rec(2));
    expect(await f.flush()).toBe(true);
    expect(f.stats).toMatchObject({ queued: 0, sent: 1, dropped: 1 });
  });

  it('bounds what goes on the wire', () => {
    const w = toWire({ mac: 'junk', clientIp: '::1', kind: 'tftp', request: 'RRQ a\nb', result: 'x'.repeat(600), status: 42, detail: { big: 'y'.repeat(5000), outcome: 'complete' } }, 1);
    expect(w).toMatchObject({ mac: null, clientIp: null, request: 'RRQ a b', status: 200, detail: { truncated: true, outcome: 'complete' } });
    expect(w!.result).toHaveLength(512);
    expect(toWire({ mac: null, clientIp: null, kind: 'script', request: '', result: '', status: 200 }, 1)).toBeNull();
  });
});

describe('loader sync and host modes against a stand-in centre on loopback', () => {
  let server: ServerType;
  let base: string;
  const files = new Map<string, Buffer>();
  /** What the manifest claims, when it should differ from the bytes served. */
  const lies = new Map<string, { size?: number; sha256?: string }>();
  const downloads: string[] = [];
  let hosts = [{ mac: '52:54:00:00:00:09', dhcpMode: 'ignore' }];
  let hostRequests: number[] = [];
  let down = false;

  beforeAll(async () => {
    const app = new Hono();
    app.use('*', async (c, next) => (down ? c.text('down', 503) : next()));
    app.get('/satellite/v1/loaders', (c) => {
      if (c.req.header('authorization') !== `Bearer ${TOKEN}`) return c.json({ error: 'no' }, 401);
      return c.json({ loaders: [...files].map(([name, b]) => ({ name, size: b.length, sha256: sha(b), ...lies.get(name) })) });
    });
    app.get('/loaders/:name', (c) => {
      downloads.push(c.req.param('name'));
      const b = files.get(c.req.param('name'));
      return b ? c.body(new Uint8Array(b)) : c.text('no', 404);
    });
    app.get('/satellite/v1/hosts', (c) => {
      const body = JSON.stringify({ hosts });
      const etag = `"${sha(Buffer.from(body)).slice(0, 16)}"`;
      if (c.req.header('if-none-match') === etag) {
        hostRequests.push(304);
        return c.body(null, 304);
      }
      hostRequests.push(200);
      return c.body(body, 200, { 'content-type': 'application/json', etag });
    });
    app.get('/satellite/v1/site/:name', (c) =>
      c.req.param('name') === 'branch' ? c.json({ name: 'branch', loaders: { efi64: 'snponly.efi' }, menuDisplay: '', bootBaseUrl: 'http://10.95.0.1:8080' }) : c.json({ error: 'no' }, 404),
    );
    server = await new Promise<ServerType>((ok) => {
      const s = serveHttp({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ok(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads only what differs, installs it whole, and keeps the old file when a download fails its sha256 or size check', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-sat-loaders-'));
    const a1 = Buffer.from('undionly v1 '.repeat(500));
    const e1 = Buffer.from('ipxe.efi v1 '.repeat(700));
    files.set('undionly.kpxe', a1).set('ipxe.efi', e1);
    writeFileSync(join(dir, 'ipxe.efi'), e1); // already equal: not downloaded
    writeFileSync(join(dir, 'local-only.0'), 'kept'); // not the centre's: left alone
    writeFileSync(join(dir, '.undionly.kpxe.partial-0123456789ab'), 'a download cut by a crash');
    const installed: string[][] = [];
    const sync = createLoaderSync({ upstream: base, token: TOKEN, dir, log: silentLogger, onInstalled: (n) => installed.push(n) });
    downloads.length = 0;
    const r1 = await sync.sync();
    expect(r1).toMatchObject({ ok: true, installed: ['undionly.kpxe'], unchanged: ['ipxe.efi'], failed: [] });
    expect(downloads).toEqual(['undionly.kpxe']);
    expect(readFileSync(join(dir, 'undionly.kpxe')).equals(a1)).toBe(true);
    expect(installed).toEqual([['undionly.kpxe']]);

    // Nothing changed: nothing downloaded.
    downloads.length = 0;
    expect(await sync.sync()).toMatchObject({ ok: true, installed: [], unchanged: ['undionly.kpxe', 'ipxe.efi'] });
    expect(downloads).toEqual([]);

    // The centre serves bytes that do not match its manifest: refused, old copy stays, no partial file left.
    const a2 = Buffer.from('undionly v2, tampered in transit '.repeat(400));
    files.set('undionly.kpxe', a2);
    lies.set('undionly.kpxe', { sha256: sha(Buffer.from('what the manifest promised')) });
    const inodeBefore = statSync(join(dir, 'undionly.kpxe')).ino;
    const r3 = await sync.sync();
    expect(r3.ok).toBe(false);
    expect(r3.failed).toEqual([{ name: 'undionly.kpxe', error: expect.stringMatching(/^sha256 [0-9a-f]{64} differs from the manifest's [0-9a-f]{64}$/) }]);
    expect(readFileSync(join(dir, 'undionly.kpxe')).equals(a1)).toBe(true);
    expect(statSync(join(dir, 'undionly.kpxe')).ino).toBe(inodeBefore);
    expect(sync.state).toMatchObject({ ok: false, refused: 1 });

    // More bytes than the manifest lists: refused too.
    lies.set('undionly.kpxe', { size: 10, sha256: sha(a2) });
    expect((await sync.sync()).failed[0]!.error).toMatch(/more than the 10 bytes/);
    expect(readFileSync(join(dir, 'undionly.kpxe')).equals(a1)).toBe(true);

    // The centre down: nothing changes, the error is kept.
    lies.delete('undionly.kpxe');
    down = true;
    const r5 = await sync.sync();
    down = false;
    expect(r5).toMatchObject({ ok: false, installed: [], error: expect.stringContaining('503') });
    expect(readFileSync(join(dir, 'undionly.kpxe')).equals(a1)).toBe(true);

    // Honest again: the new bytes are installed, by rename (a new inode, which TFTP's cache notices).
    const r6 = await sync.sync();
    expect(r6).toMatchObject({ ok: true, installed: ['undionly.kpxe'] });
    expect(readFileSync(join(dir, 'undionly.kpxe')).equals(a2)).toBe(true);
    expect(statSync(join(dir, 'undionly.kpxe')).ino).not.toBe(inodeBefore);
    expect(readdirSync(dir).sort()).toEqual(['ipxe.efi', 'local-only.0', 'undionly.kpxe']);
    expect(sync.state).toMatchObject({ ok: true, downloaded: 2, refused: 2, loaders: 2 });
  });

  it('a wrong token says so', async () => {
    const sync = createLoaderSync({ upstream: base, token: 'wrong-token-0123456789', dir: mkdtempSync(join(tmpdir(), 'cb-sat-')), log: silentLogger });
    expect((await sync.sync()).error).toMatch(/answered 401 \(is satelliteToken the centre's\?\)/);
  });

  it('follows host modes with the ETag and keeps them while the centre is down; applies the site', async () => {
    const sites: unknown[] = [];
    const f = createFollower({ upstream: base, token: TOKEN, site: 'branch', log: silentLogger, onSite: (s) => sites.push(s) });
    expect(f.lookup('52:54:00:00:00:09')).toBeUndefined();
    hostRequests = [];
    expect(await f.refresh()).toBe(true);
    expect(f.lookup('52:54:00:00:00:09')).toEqual({ dhcpMode: 'ignore' });
    expect(f.lookup('52:54:00:00:00:01')).toBeUndefined();
    expect(await f.refresh()).toBe(true);
    expect(hostRequests).toEqual([200, 304]);
    expect(sites).toEqual([{ name: 'branch', loaders: { efi64: 'snponly.efi' }, menuDisplay: '', bootBaseUrl: 'http://10.95.0.1:8080' }]);

    down = true;
    expect(await f.refresh()).toBe(false);
    down = false;
    expect(f.lookup('52:54:00:00:00:09')).toEqual({ dhcpMode: 'ignore' });
    expect(f.state.lastError).toContain('503');

    hosts = [{ mac: '52:54:00:00:00:01', dhcpMode: 'loader' }];
    expect(await f.refresh()).toBe(true);
    expect(f.lookup('52:54:00:00:00:09')).toBeUndefined();
    expect(f.lookup('52:54:00:00:00:01')).toEqual({ dhcpMode: 'loader' });
    // The site did not change: not applied again.
    expect(sites).toHaveLength(1);
  });
});

/**
 * /metrics, /readyz and the HTTP middleware over a real loopback socket, on
 * the stack makeStack() builds (buildServices, as serve does): requests are
 * made with fetch, the exposition text is scraped and parsed, and counters
 * are checked to move by exactly what the requests did.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeStack, TEST_BACKEND, TOKEN, type Stack } from '../helpers/services.js';
import { profileInputSchema } from '../../src/boot/profile.js';
import { tempDir } from '../http/assets-helpers.js';
import { captureLogger } from '../tftp/helpers.js';
import { appOver, listen, Scrape, scrape, type Listening } from './helpers.js';

const KERNEL = Buffer.from('KERNEL-0123456789abcdefghijklmnopqrstuvwxyz'.repeat(100));
const BIG = 64 * 2 ** 20;
const MAC = '08:00:27:4d:4d:aa';
const MAC2 = '08:00:27:4d:4d:ab';

let tmp: ReturnType<typeof tempDir>;
let assetRoot: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  tmp = tempDir('chainboot-metrics-');
  assetRoot = join(tmp.dir, 'assets');
  mkdirSync(join(assetRoot, 'debian12'), { recursive: true });
  writeFileSync(join(assetRoot, 'debian12', 'linux'), KERNEL);
  // Sparse: bigger than any socket buffer, so a client that stops reading keeps the stream open.
  const fd = openSync(join(assetRoot, 'big.img'), 'w');
  ftruncateSync(fd, BIG);
  closeSync(fd);
});
afterAll(() => tmp.remove());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function up(app: Parameters<typeof listen>[0]): Promise<Listening> {
  const l = await listen(app);
  cleanups.push(() => l.close());
  return l;
}

/** Waits for the next boot event of a kind (the asset pump records it after the stream gauge went down). */
function nextEvent(s: Stack, kind: string): Promise<{ detail?: Record<string, unknown> | null; status: number }> {
  const orig = s.events.record;
  return new Promise((ok) => {
    s.events.record = (e, facts, key) => {
      orig(e, facts, key);
      if (e.kind === kind) {
        s.events.record = orig;
        ok(e as { detail?: Record<string, unknown> | null; status: number });
      }
    };
  });
}

const ROUTE_NAMES = /^(\(unmatched\)|\/[^?]*)$/;

describe('GET /metrics: HTTP requests, bytes and latency by route pattern', () => {
  it('counts each request once under its route pattern and status class, with its exact body bytes', async () => {
    const s = await makeStack({ assetRoot });
    const srv = await up(s.app);
    const before = await scrape(srv.url);

    const entry = await (await fetch(`${srv.url}/boot.ipxe`)).text();
    const s1 = await (await fetch(`${srv.url}/ipxe?mac=${MAC}`)).text();
    const s2 = await (await fetch(`${srv.url}/ipxe?mac=${MAC2.replace(/:/g, '-')}`)).text();
    const kernel = Buffer.from(await (await fetch(`${srv.url}/assets/debian12/linux`)).arrayBuffer());
    expect(kernel.equals(KERNEL)).toBe(true);
    const head = await fetch(`${srv.url}/assets/debian12/linux`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(KERNEL.length));
    expect((await fetch(`${srv.url}/assets/missing.img`)).status).toBe(404);
    const nowhere = await fetch(`${srv.url}/no/such/${MAC}`);
    expect(nowhere.status).toBe(404);
    await nowhere.text();
    expect((await fetch(`${srv.url}/api/v1/hosts`)).status).toBe(401);
    const hosts = await fetch(`${srv.url}/api/v1/hosts/${MAC}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const hostBody = await hosts.text();
    expect(hosts.status).toBe(200);

    await srv.settled();
    const after = await scrape(srv.url);
    const d = (name: string, labels: Record<string, string>) => Scrape.delta(before, after, name, labels);
    const REQ = 'chainboot_http_requests_total';
    const BYTES = 'chainboot_http_response_bytes_total';

    expect(after.types.get(REQ)).toBe('counter');
    expect(after.types.get(BYTES)).toBe('counter');
    expect(after.types.get('chainboot_http_request_duration_seconds')).toBe('histogram');
    expect(after.types.get('chainboot_http_active_streams')).toBe('gauge');

    expect(d(REQ, { method: 'GET', route: '/boot.ipxe', status: '2xx' })).toBe(1);
    expect(d(REQ, { method: 'GET', route: '/ipxe', status: '2xx' })).toBe(2);
    expect(d(REQ, { method: 'GET', route: '/assets/*', status: '2xx' })).toBe(1);
    expect(d(REQ, { method: 'HEAD', route: '/assets/*', status: '2xx' })).toBe(1);
    expect(d(REQ, { method: 'GET', route: '/assets/*', status: '4xx' })).toBe(1);
    expect(d(REQ, { method: 'GET', route: '(unmatched)', status: '4xx' })).toBe(1);
    expect(d(REQ, { route: '/api/v1/hosts/:mac', status: '2xx' })).toBe(1);
    // The API's auth middleware answered the 401 before any handler.
    expect(d(REQ, { status: '4xx' })).toBe(3);
    // The scrape before this one is in the after-scrape: one request to /metrics.
    expect(d(REQ, { route: '/metrics' })).toBe(1);

    expect(d(BYTES, { method: 'GET', route: '/boot.ipxe' })).toBe(Buffer.byteLength(entry));
    expect(d(BYTES, { method: 'GET', route: '/ipxe' })).toBe(Buffer.byteLength(s1) + Buffer.byteLength(s2));
    expect(d(BYTES, { method: 'GET', route: '/assets/*', status: '2xx' })).toBe(KERNEL.length);
    expect(d(BYTES, { method: 'HEAD' })).toBe(0);
    expect(d(BYTES, { route: '/api/v1/hosts/:mac' })).toBe(Buffer.byteLength(hostBody));

    const H = 'chainboot_http_request_duration_seconds';
    expect(d(`${H}_count`, { route: '/ipxe', status: '2xx' })).toBe(2);
    expect(d(`${H}_bucket`, { route: '/ipxe', status: '2xx', le: '+Inf' })).toBe(2);
    expect(d(`${H}_sum`, { route: '/ipxe', status: '2xx' })).toBeGreaterThan(0);

    // Bounded labels: route patterns only, never a raw path, a MAC or a query.
    const routes = after.labelValues(REQ, 'route');
    for (const r of routes) {
      expect(r).toMatch(ROUTE_NAMES);
      expect(r).not.toMatch(/[0-9a-f]{2}[:-][0-9a-f]{2}|no\/such|debian12|\?/i);
    }
    expect(after.labelValues(REQ, 'status').every((v) => /^[1-5]xx$/.test(v))).toBe(true);
  });

  it('an unusual method is one label value, not one per method name', async () => {
    const s = await makeStack({ assetRoot });
    const srv = await up(s.app);
    expect((await fetch(`${srv.url}/assets/debian12/linux`, { method: 'PROPFIND' })).status).toBe(405);
    await srv.settled();
    const after = await scrape(srv.url);
    expect(after.get('chainboot_http_requests_total', { method: 'OTHER', route: '/assets/*', status: '4xx' })).toBe(1);
    expect(after.labelValues('chainboot_http_requests_total', 'method')).not.toContain('PROPFIND');
  });
});

describe('GET /metrics: renders, render errors, tasks by state', () => {
  it('counts served renders and failed ones by kind (previews not), and tasks by state from the database', async () => {
    const s = await makeStack({ assetRoot });
    await s.store.createProfile(profileInputSchema.parse({ name: 'chain', kind: 'chain', url: 'http://10.0.0.9/x.ipxe' }));
    await s.store.createProfile(profileInputSchema.parse({ name: 'broken', kind: 'chain', url: 'http://10.0.0.9/x.ipxe', bootTemplate: 'ipxe/no-such-template.ipxe' }));
    await s.store.createHost({ mac: MAC, profile: 'broken' });
    await s.store.createHost({ mac: MAC2, profile: 'chain' });
    await s.store.createHost({ mac: '08:00:27:4d:4d:ac' });
    const srv = await up(s.app);

    const bad = await fetch(`${srv.url}/ipxe?mac=${MAC}`);
    expect(bad.status).toBe(500);
    expect(await bad.text()).toContain('no-such-template');
    expect((await fetch(`${srv.url}/ipxe?mac=${MAC2}`)).status).toBe(200);
    expect((await fetch(`${srv.url}/boot.ipxe`)).status).toBe(200);
    expect((await fetch(`${srv.url}/hosts/${MAC2}/ks.cfg`)).status).toBe(200);
    expect((await fetch(`${srv.url}/hosts/${MAC2}/no-such-file`)).status).toBe(404); // no template run: not a render
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${srv.url}/api/v1/preview?mac=${MAC}`, { headers: auth })).status).toBeGreaterThanOrEqual(200);

    const assign = await fetch(`${srv.url}/api/v1/tasks`, { method: 'POST', headers: auth, body: JSON.stringify({ profile: 'chain', macs: [MAC2, '08:00:27:4d:4d:ac'] }) });
    expect(assign.status).toBe(201);
    const created = (await assign.json()) as { tasks?: { id: number }[] } | { id: number }[];
    const ids = (Array.isArray(created) ? created : created.tasks!).map((t) => t.id);
    expect(ids).toHaveLength(2);
    expect((await fetch(`${srv.url}/api/v1/tasks/${ids[1]}/cancel`, { method: 'POST', headers: auth })).status).toBe(200);

    const m = await scrape(srv.url);
    expect(m.get('chainboot_renders_total', { kind: 'script' })).toBe(2);
    expect(m.get('chainboot_render_errors_total', { kind: 'script' })).toBe(1);
    expect(m.get('chainboot_renders_total', { kind: 'entry' })).toBe(1);
    expect(m.get('chainboot_renders_total', { kind: 'file' })).toBe(1);
    expect(m.get('chainboot_render_errors_total', { kind: 'file' })).toBe(0);
    expect(m.types.get('chainboot_tasks')).toBe('gauge');
    expect(m.get('chainboot_tasks', { state: 'pending' })).toBe(1);
    expect(m.get('chainboot_tasks', { state: 'cancelled' })).toBe(1);
    // Every state is a series, at 0 when empty, so dashboards need no "or vector(0)".
    expect(m.labelValues('chainboot_tasks', 'state')).toEqual(['cancelled', 'done', 'expired', 'failed', 'pending', 'running', 'served']);
    expect(m.get('chainboot_tasks', { state: 'running' })).toBe(0);
    // One boot started per machine that asked (both /ipxe MACs; the entry script's address is one of them).
    expect(m.get('chainboot_boots_started_total')).toBeGreaterThanOrEqual(2);
    expect(m.get('chainboot_boot_events_dropped_total')).toBe(0);
  });
});

describe('active asset streams', () => {
  it('is 1 while a body streams to a client that stopped reading, 0 once it went away; bytes are those written', async () => {
    const s = await makeStack({ assetRoot });
    const srv = await up(s.app);
    const ctl = new AbortController();
    const res = await fetch(`${srv.url}/assets/big.img`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    // 64 MiB cannot all sit in socket buffers: the server's pump is still waiting on this client.
    const during = await scrape(srv.url);
    expect(during.get('chainboot_http_active_streams', { kind: 'asset' })).toBe(1);
    expect(during.get('chainboot_http_active_streams', { kind: 'loader' })).toBe(0);

    const ended = nextEvent(s, 'asset');
    ctl.abort();
    await reader.cancel().catch(() => {});
    const ev = await ended;
    expect(ev.detail).toMatchObject({ aborted: true });
    await srv.settled();
    const after = await scrape(srv.url);
    expect(after.get('chainboot_http_active_streams', { kind: 'asset' })).toBe(0);
    const written = after.get('chainboot_http_response_bytes_total', { method: 'GET', route: '/assets/*', status: '2xx' });
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(BIG);
  });

  it('a whole download: the gauge returns to 0 and the byte counter has every byte', async () => {
    const s = await makeStack({ assetRoot });
    const srv = await up(s.app);
    const ended = nextEvent(s, 'asset');
    const res = await fetch(`${srv.url}/assets/big.img`);
    let n = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    expect(n).toBe(BIG);
    await ended;
    await srv.settled();
    const m = await scrape(srv.url);
    expect(m.get('chainboot_http_active_streams', { kind: 'asset' })).toBe(0);
    expect(m.get('chainboot_http_response_bytes_total', { method: 'GET', route: '/assets/*', status: '2xx' })).toBe(BIG);
  });
});

describe('metricsToken', () => {
  it('open by default; with a token, only a matching Bearer gets the metrics', async () => {
    const open = await up((await makeStack()).app);
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200);

    const s = await makeStack();
    const srv = await up(appOver(s, { metricsToken: 'scrape-secret-0123456789' }));
    const none = await fetch(`${srv.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect((await fetch(`${srv.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    // The admin token is not the metrics token.
    expect((await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
    const ok = await fetch(`${srv.url}/metrics`, { headers: { authorization: 'Bearer scrape-secret-0123456789' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await ok.text()).toContain('# TYPE chainboot_http_requests_total counter');
  });

  it('a token given as a function is asked at each scrape (a reload sets or changes it)', async () => {
    let token: string | undefined;
    const srv = await up(appOver(await makeStack(), { metricsToken: () => token }));
    expect((await fetch(`${srv.url}/metrics`)).status).toBe(200);
    token = 'first-token-0123456789';
    expect((await fetch(`${srv.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${srv.url}/metrics`, { headers: { authorization: 'Bearer first-token-0123456789' } })).status).toBe(200);
    token = 'second-token-0123456789';
    expect((await fetch(`${srv.url}/metrics`, { headers: { authorization: 'Bearer first-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${srv.url}/metrics`, { headers: { authorization: 'bearer second-token-0123456789' } })).status).toBe(200);
  });
});

describe('/healthz and /readyz', () => {
  it('ready with a database that answers and every listener input true', async () => {
    const s = await makeStack();
    const srv = await up(appOver(s, { readiness: () => ({ tftp: true, dhcp: true }) }));
    const r = await fetch(`${srv.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ready: true, checks: { database: 'ok', tftp: 'ok', dhcp: 'ok' }, notReady: [] });
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  });

  it('503 naming the listener that is not bound', async () => {
    const s = await makeStack();
    let dhcp: true | string = 'proxyDHCP: not listening yet';
    const srv = await up(appOver(s, { readiness: () => ({ tftp: true, dhcp }) }));
    const r = await fetch(`${srv.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, checks: { database: 'ok', tftp: 'ok', dhcp: 'proxyDHCP: not listening yet' }, notReady: ['dhcp'] });
    dhcp = true;
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
  });

  it('503 naming the database when it does not answer; /healthz (liveness) still 200', async () => {
    const s = await makeStack();
    const srv = await up(s.app);
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    // The database goes away under the running service (SQLite: the handle is closed; PostgreSQL: the pool has ended).
    await s.backend.close();
    const r = await fetch(`${srv.url}/readyz`);
    expect(r.status).toBe(503);
    const body = (await r.json()) as { ready: boolean; notReady: string[]; checks: Record<string, string> };
    expect(body.notReady).toEqual(['database']);
    expect(body.checks.database).toMatch(TEST_BACKEND === 'sqlite' ? /^the database does not answer: .*not open/ : /^the database does not answer: .*after calling end on the pool/);
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    // A scrape still answers (tasks by state are left out while the database is gone).
    expect((await fetch(`${srv.url}/metrics`)).status).toBe(200);
  });
});

describe('access log', () => {
  it('one JSON line per request with route, status and the boot id its events carry', async () => {
    const s = await makeStack({ assetRoot });
    await s.store.createProfile(profileInputSchema.parse({ name: 'broken', kind: 'chain', url: 'http://10.0.0.9/x.ipxe', bootTemplate: 'ipxe/no-such-template.ipxe' }));
    await s.store.createHost({ mac: MAC2, profile: 'broken' });
    const cap = captureLogger();
    const srv = await up(appOver(s, { log: cap.log, assetRoot }));
    await (await fetch(`${srv.url}/ipxe?mac=${MAC}`)).text();
    await (await fetch(`${srv.url}/assets/debian12/linux`)).arrayBuffer();
    await srv.settled();
    await s.events.flush();
    const events = await s.store.listEvents({ mac: MAC });
    const script = events.find((e) => e.kind === 'script')!;
    const asset = events.find((e) => e.kind === 'asset')!;
    const boot = (script.detail as { boot: string }).boot;
    expect(boot).toMatch(/^[0-9a-f]{8}$/);
    expect((asset.detail as { boot: string }).boot).toBe(boot);
    const lines = cap.lines().filter((l) => typeof l.route === 'string');
    expect(lines.find((l) => l.route === '/ipxe')).toMatchObject({ level: 20, method: 'GET', status: 200, ip: '127.0.0.1', boot, path: '/ipxe' });
    expect(lines.find((l) => l.route === '/assets/*')).toMatchObject({ level: 20, status: 200, boot });

    // A 5xx is a warning, and names the boot of that other machine.
    await (await fetch(`${srv.url}/ipxe?mac=${MAC2}`)).text();
    await s.events.flush();
    const other = ((await s.store.listEvents({ mac: MAC2 }))[0]!.detail as { boot: string }).boot;
    expect(other).toMatch(/^[0-9a-f]{8}$/);
    expect(other).not.toBe(boot);
    // Same client address: the log line names the boot of the MAC that address belongs to now.
    expect(cap.lines().find((l) => l.route === '/ipxe' && l.status === 500)).toMatchObject({ level: 40, boot: other });
  });
});

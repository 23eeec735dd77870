/**
 * The centre's /satellite/v1 over the real service stack (this run's
 * backend, SQLite in memory or PostgreSQL, with the real migrations): token handling, the loader manifest, host modes
 * with their ETag, site overrides, and event batches that are written whole
 * or not at all.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { makeStack, openTestBackend, TOKEN } from '../helpers/services.js';

const SAT = 'satellite-token-0123456789';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function centre(loaderRoot = '/nonexistent', satelliteToken = SAT) {
  const cfg = loadConfig({ argv: ['--asset-root', '/nonexistent', '--loader-root', loaderRoot, '--admin-token', TOKEN, ...(satelliteToken ? ['--satellite-token', satelliteToken] : [])] });
  // The backend is closed after the file's tests (openTestBackend keeps it for that).
  const s = await buildServices(cfg, silentLogger, { backend: await openTestBackend(), baseUrl: 'http://10.0.0.5:8080', eventIntervalMs: 10_000 });
  const req = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? SAT}`);
    return s.app.request(`/satellite/v1${path}`, { ...init, headers });
  };
  const api = (path: string, method = 'GET', body?: unknown) =>
    s.app.request(`/api/v1${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { ...s, req, api };
}

const event = (over: Record<string, unknown> = {}) => ({
  at: Date.now(),
  mac: '52:54:00:aa:bb:01',
  clientIp: '10.96.0.50',
  kind: 'dhcp',
  request: 'DISCOVER bios',
  result: 'offer undionly.kpxe',
  status: 200,
  detail: { port: 67, xid: 1 },
  ...over,
});

describe('centre: /satellite/v1', () => {
  it('is 404 while no satelliteToken is set, 401 for a missing or wrong token, 429 after ten wrong ones', async () => {
    const off = await makeStack();
    const res = await off.app.request('/satellite/v1/loaders', { headers: { authorization: `Bearer ${SAT}` } });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('satellite API is off');

    const c = await centre();
    expect((await c.req('/hosts', { token: null })).status).toBe(401);
    const wrong = await c.req('/hosts', { token: 'not-the-satellite-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('Bearer');
    // The admin token is not the satellite token.
    expect((await c.req('/hosts', { token: TOKEN })).status).toBe(401);
    for (let i = 0; i < 8; i++) await c.req('/hosts', { token: `wrong-${i}-0123456789abcdef` });
    const limited = await c.req('/hosts');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('lists the loaders with size and sha256, and a replaced one with its new hash', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-centre-loaders-'));
    const a = Buffer.from('undionly bytes '.repeat(100));
    writeFileSync(join(root, 'undionly.kpxe'), a);
    writeFileSync(join(root, 'custom.efi'), Buffer.from('custom'));
    writeFileSync(join(root, '.hidden'), 'no');
    const c = await centre(root);
    const first = (await (await c.req('/loaders')).json()) as { loaders: { name: string; size: number; sha256: string }[] };
    const byName = new Map(first.loaders.map((l) => [l.name, l]));
    expect(byName.get('undionly.kpxe')).toEqual({ name: 'undionly.kpxe', size: a.length, sha256: sha(a) });
    expect(byName.get('custom.efi')?.sha256).toBe(sha(Buffer.from('custom')));
    expect(byName.has('.hidden')).toBe(false);

    const b = Buffer.from('a new undionly, longer than before '.repeat(100));
    writeFileSync(join(root, '.tmp'), b);
    renameSync(join(root, '.tmp'), join(root, 'undionly.kpxe'));
    const second = (await (await c.req('/loaders')).json()) as { loaders: { name: string; size: number; sha256: string }[] };
    expect(second.loaders.find((l) => l.name === 'undionly.kpxe')).toEqual({ name: 'undionly.kpxe', size: b.length, sha256: sha(b) });
    // The bytes come from the ordinary loader route, and match.
    const got = Buffer.from(await (await c.app.request('/loaders/undionly.kpxe')).arrayBuffer());
    expect(sha(got)).toBe(sha(b));
  });

  it('lists hosts whose dhcpMode is not follow, with an ETag: unchanged is a 304, a change a new list', async () => {
    const c = await centre();
    expect((await c.api('/hosts', 'POST', { mac: '52:54:00:00:00:01', dhcpMode: 'ignore' })).status).toBe(201);
    expect((await c.api('/hosts', 'POST', { mac: '52:54:00:00:00:02', dhcpMode: 'loader' })).status).toBe(201);
    expect((await c.api('/hosts', 'POST', { mac: '52:54:00:00:00:03' })).status).toBe(201);
    const r1 = await c.req('/hosts');
    expect(r1.status).toBe(200);
    expect(await r1.json()).toEqual({ hosts: [{ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' }, { mac: '52:54:00:00:00:02', dhcpMode: 'loader' }] });
    const etag = r1.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const r2 = await c.req('/hosts', { headers: { 'if-none-match': etag } });
    expect(r2.status).toBe(304);

    expect((await c.api('/hosts/52:54:00:00:00:03', 'PATCH', { dhcpMode: 'ignore' })).status).toBe(200);
    const r3 = await c.req('/hosts', { headers: { 'if-none-match': etag } });
    expect(r3.status).toBe(200);
    expect(r3.headers.get('etag')).not.toBe(etag);
    expect(((await r3.json()) as { hosts: unknown[] }).hosts).toHaveLength(3);
  });

  it('gives a site’s overrides, 404 for an unknown site', async () => {
    const c = await centre();
    const add = await c.api('/sites', 'POST', { name: 'branch', subnets: ['10.96.0.0/24'], loaders: { efi64: 'snponly.efi' }, menuDisplay: 'onkey', bootBaseUrl: 'http://centre.example:8080' });
    expect(add.status).toBe(201);
    const r = await c.req('/site/branch');
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ name: 'branch', loaders: { efi64: 'snponly.efi' }, menuDisplay: 'onkey', bootBaseUrl: 'http://centre.example:8080' });
    expect((await c.req('/site/nowhere')).status).toBe(404);
  });

  describe('POST /events', () => {
    const post = (c: Awaited<ReturnType<typeof centre>>, body: unknown) => c.req('/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const count = async (c: Awaited<ReturnType<typeof centre>>) => {
      await c.events.flush();
      return (await c.store.listEvents({ limit: 1000 })).length;
    };

    it.each([
      ['not JSON', '{"events": ['],
      ['no events', { events: [] }],
      ['an unknown kind', { events: [event(), event({ kind: 'script' })] }],
      ['a newline in the request', { events: [event(), event({ request: 'DISCOVER\nchain http://evil' })] }],
      ['a bad MAC', { events: [event({ mac: 'zz:zz' })] }],
      ['a bad address', { events: [event({ clientIp: '10.0.0.300' })] }],
      ['a time far in the future', { events: [event({ at: Date.now() + 10 * 86_400_000 })] }],
      ['an unknown field', { events: [{ ...event(), extra: 1 }] }],
      ['a huge detail', { events: [event({ detail: { blob: 'x'.repeat(5000) } })] }],
      ['a bad satellite name', { satellite: 'a b', events: [event()] }],
      ['1001 events', { events: Array.from({ length: 1001 }, () => event()) }],
    ])('refuses %s with 400 and writes nothing', async (_what, body) => {
      const c = await centre();
      const before = await count(c);
      const res = await post(c, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/refused, nothing written|must be JSON/);
      expect(await count(c)).toBe(before);
    });

    it('refuses a body over the limit with 413', async () => {
      const c = await centre();
      const res = await post(c, JSON.stringify({ events: [event({ request: 'x'.repeat(3 * 1024 * 1024) })] }));
      expect(res.status).toBe(413);
      expect(await count(c)).toBe(0);
    });

    it('writes a good batch, each event naming the satellite, and the host timeline shows the site’s steps', async () => {
      const c = await centre();
      expect((await c.api('/hosts', 'POST', { mac: '52:54:00:aa:bb:01' })).status).toBe(201);
      const at = Date.now() - 5000;
      const res = await post(c, {
        satellite: 'branch',
        events: [event({ at }), event({ at: at + 1, kind: 'tftp', request: 'RRQ undionly.kpxe', result: 'sent 70000 bytes', detail: { outcome: 'complete' } })],
      });
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 2 });
      await c.events.flush();
      const tl = (await (await c.api('/hosts/52:54:00:aa:bb:01/timeline')).json()) as { source: string; what: string; detail: Record<string, unknown> }[] | { events: { source: string; what: string; detail: Record<string, unknown> }[] };
      const steps = Array.isArray(tl) ? tl : tl.events;
      expect(steps.map((s) => [s.source, s.what, s.detail.satellite])).toEqual([
        ['dhcp', 'DISCOVER bios', 'branch'],
        ['tftp', 'RRQ undionly.kpxe', 'branch'],
      ]);
      expect(steps[1]!.detail.outcome).toBe('complete');
    });
  });
});

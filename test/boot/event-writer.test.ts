/**
 * Boot events with a file database, as `serve` builds them. Run from the
 * TypeScript sources (as vitest and tsx do) the worker thread cannot load its
 * module, so `serve` writes events in-thread rather than losing them; the
 * built worker is exercised by the CLI tests (test/cli.test.ts,
 * test/http/curl-e2e.test.ts), which run dist/, and here from the sources in
 * a child process whose worker loads tsx first (helpers/writer-worker.mjs).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { eventWorkerAvailable } from '../../src/boot/event-writer.js';
import { silentLogger } from '../../src/log.js';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('event writer from TypeScript sources', () => {
  it('is known to be unavailable here, and events are stored in-thread instead', async () => {
    expect(eventWorkerAvailable).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-events-'));
    dirs.push(dir);
    const cfg = loadConfig({ argv: ['--admin-token', 'x'.repeat(20), '--data-dir', dir, '--dhcp', 'off', '--tftp', 'off'] });
    const s = await buildServices(cfg, silentLogger, { eventWorker: true, baseUrl: 'http://10.0.0.5:8080' });
    s.events.record({ mac: '52:54:00:00:00:09', clientIp: '10.0.0.9', kind: 'http', request: 'GET /boot.ipxe', result: 'script', status: 200 });
    await s.events.flush();
    const rows = await s.store.listEvents({ mac: '52:54:00:00:00:09' });
    expect(rows.map((r) => r.request)).toEqual(['GET /boot.ipxe']);
    expect(s.backend.kind).toBe('sqlite');
    await s.events.close();
    await s.backend.close();
  });
});

describe('event writer thread', () => {
  it('stores every batch through the worker: order, text, last-seen of known hosts, nothing dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-events-'));
    dirs.push(dir);
    const file = join(dir, 'chainboot.db');
    const store = createStore(openDb(file));
    store.createHost({ mac: '02:00:00:00:00:03' });
    const events = Array.from({ length: 10 }, (_, i) => ({
      mac: `02:00:00:00:00:0${i % 4}`,
      at: 1000 + i,
      request: i === 5 ? 'GET /hosts/ünïcødé 😀' : `DISCOVER ${i}`,
      ...(i === 7 ? { facts: { product: 'Büro' } } : {}),
    }));
    // Batches of 3 (several posted before the flush at close), from the TypeScript sources through helpers/writer-worker.mjs.
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'helpers/writer-child.ts'), file, JSON.stringify(events), '3'], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ ok: true, errors: [], dropped: 0 });
    const rows = store.listEvents({ limit: 100 }).reverse();
    expect(rows.map((r) => [r.at, r.mac, r.request, r.detail])).toEqual(events.map((e) => [e.at, e.mac, e.request, { n: e.at }]));
    expect(store.getHost('02:00:00:00:00:03')).toMatchObject({ firstSeen: 1003, lastSeen: 1007, facts: { product: 'Büro' } });
    expect(store.getHost('02:00:00:00:00:01')).toBeUndefined();
    store.db.$client.close();
  });
});

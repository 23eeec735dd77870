import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createEngine } from '../../src/render/engine.js';
import { createEventLog } from '../../src/boot/events.js';
import { profileInputSchema } from '../../src/boot/profile.js';
import { shippedTemplatesDir } from '../../src/paths.js';

describe('store', () => {
  it('opens a file database in WAL mode with the migrations applied', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'chainboot-db-')), 'sub', 'chainboot.db');
    const db = openDb(file);
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db.$client.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['boot_events', 'hosts', 'profiles', 'settings', 'templates']));
    db.$client.close();
    // Opening again applies nothing twice.
    openDb(file).$client.close();
  });

  it('sees profile and template changes another process committed', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'chainboot-db-')), 'chainboot.db');
    const server = createStore(openDb(file));
    const cli = createStore(openDb(file));
    const engine = createEngine({ store: server, shippedDir: shippedTemplatesDir });
    cli.createProfile(profileInputSchema.parse({ name: 'p', kind: 'local' }));
    expect(server.getProfile('p')?.kind).toBe('local');
    expect(engine.resolve('ipxe/local.ipxe').source).toBe('shipped');
    cli.saveTemplate('ipxe/local.ipxe', '#!ipxe\nexit 0\n');
    expect(engine.resolve('ipxe/local.ipxe')).toMatchObject({ source: 'saved', version: 1 });
    cli.replaceProfile('p', profileInputSchema.parse({ name: 'p', kind: 'local', method: 'sanboot' }));
    expect(server.getProfile('p')?.options).toEqual({ method: 'sanboot' });
  });

  it('writes a batch of events and last-seen times in one go, keeping reported facts', () => {
    const store = createStore(openDb(':memory:'));
    store.createHost({ mac: '08:00:27:00:00:01' });
    const log = createEventLog({ store, intervalMs: 60_000 });
    log.record({ at: 1000, mac: '08:00:27:00:00:01', clientIp: '10.0.0.9', kind: 'script', request: '/ipxe', result: 'local', status: 200 }, { arch: 'x86_64' });
    log.record({ at: 2000, mac: '08:00:27:00:00:01', clientIp: '10.0.0.9', kind: 'file', request: '/hosts/x/ks.cfg', result: 'ks', status: 200 }, {});
    expect(log.pending).toBe(2);
    log.flush();
    expect(log.pending).toBe(0);
    expect(store.listEvents().map((e) => e.kind)).toEqual(['file', 'script']);
    expect(store.getHost('08:00:27:00:00:01')).toMatchObject({ firstSeen: 1000, lastSeen: 2000, facts: { arch: 'x86_64' } });
  });

  it('a failing write drops the batch, counts it and reports it, and the log keeps working', () => {
    const errors: unknown[] = [];
    let fail = true;
    const store = createStore(openDb(':memory:'));
    const log = createEventLog({
      store: { writeEventBatch: (e, s) => (fail ? (() => { throw new Error('disk full'); })() : store.writeEventBatch(e, s)) },
      intervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    log.record({ mac: null, kind: 'entry', request: '/boot.ipxe', result: 'x', status: 200 });
    log.flush();
    expect(log.dropped).toBe(1);
    expect(errors).toHaveLength(1);
    fail = false;
    log.record({ mac: null, kind: 'entry', request: '/boot.ipxe', result: 'x', status: 200 });
    log.flush();
    expect(store.listEvents()).toHaveLength(1);
  });
});

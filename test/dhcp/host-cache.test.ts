import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createHostLookupCache } from '../../src/dhcp/host-cache.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('host lookup cache', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** The server's connection and a second one (the CLI, another process) on the same file. */
  function twoConnections() {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-host-cache-'));
    dirs.push(dir);
    const file = join(dir, 'chainboot.db');
    const db = openDb(file);
    const other = openDb(file, { migrate: false });
    const store = createStore(db);
    const otherStore = createStore(other);
    let asked = 0;
    const lookup = createHostLookupCache(db.$client, (mac) => {
      asked++;
      return store.hostAndProfile(mac).host;
    });
    return { store, otherStore, lookup, asked: () => asked };
  }

  it('answers unknown MACs from memory and asks the store for known ones', async () => {
    const { store, lookup, asked } = twoConnections();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'loader' });
    for (let i = 0; i < 3; i++) {
      expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('loader');
      expect(lookup('52:54:00:00:00:02')).toBeUndefined();
      await nextTurn();
    }
    expect(asked()).toBe(3);
    expect(lookup.stats).toEqual({ unknown: 3, asked: 3, hosts: 1 });
  });

  it("sees this connection's writes from the next turn: create, update, delete", async () => {
    const { store, lookup } = twoConnections();
    expect(lookup('52:54:00:00:00:01')).toBeUndefined();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' });
    await nextTurn();
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('ignore');
    // A known host is read from the store: its edits apply at once.
    store.updateHost('52:54:00:00:00:01', { dhcpMode: 'follow' });
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('follow');
    store.deleteHost('52:54:00:00:00:01');
    expect(lookup('52:54:00:00:00:01')).toBeUndefined();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'loader' });
    await nextTurn();
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('loader');
  });

  it("sees another connection's writes from the next turn: create, update, delete", async () => {
    const { otherStore, lookup } = twoConnections();
    expect(lookup('52:54:00:00:00:01')).toBeUndefined();
    otherStore.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' });
    await nextTurn();
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('ignore');
    otherStore.updateHost('52:54:00:00:00:01', { dhcpMode: 'loader' });
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('loader');
    otherStore.deleteHost('52:54:00:00:00:01');
    expect(lookup('52:54:00:00:00:01')).toBeUndefined();
  });

  it('knows the hosts that were there before it, and hosts inserted and deleted in between', async () => {
    const { store, otherStore, lookup } = twoConnections();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' });
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('ignore');
    await nextTurn();
    otherStore.createHost({ mac: '52:54:00:00:00:02' });
    otherStore.deleteHost('52:54:00:00:00:02');
    await nextTurn();
    expect(lookup('52:54:00:00:00:02')).toBeUndefined();
    otherStore.createHost({ mac: '52:54:00:00:00:03', dhcpMode: 'loader' });
    await nextTurn();
    expect(lookup('52:54:00:00:00:03')?.dhcpMode).toBe('loader');
  });

  it('commits that insert no host (the event writer) cost no reload', async () => {
    const { store, otherStore, lookup, asked } = twoConnections();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'loader' });
    lookup('52:54:00:00:00:02');
    // As the worker does: events and last-seen times, from its own connection.
    otherStore.writeEventBatch([{ at: 1, mac: '52:54:00:00:00:01', clientIp: null, kind: 'dhcp', request: 'DISCOVER', result: 'offer', status: 200, detail: {} }], new Map([['52:54:00:00:00:01', { first: 1, at: 1 }]]));
    await nextTurn();
    expect(lookup('52:54:00:00:00:02')).toBeUndefined();
    expect(asked()).toBe(0);
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('loader');
    expect(asked()).toBe(1);
  });

  it('a failing store fails the lookup (the server then fails closed), and works again after', async () => {
    const { store, lookup } = twoConnections();
    store.createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' });
    let fail = true;
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-host-cache-'));
    dirs.push(dir);
    const db = openDb(join(dir, 'chainboot.db'));
    createStore(db).createHost({ mac: '52:54:00:00:00:01', dhcpMode: 'ignore' });
    const failing = createHostLookupCache(db.$client, () => {
      if (fail) throw new Error('disk I/O error');
      return { dhcpMode: 'ignore' };
    });
    expect(() => failing('52:54:00:00:00:01')).toThrow('disk I/O error');
    fail = false;
    expect(failing('52:54:00:00:00:01')?.dhcpMode).toBe('ignore');
    expect(lookup('52:54:00:00:00:01')?.dhcpMode).toBe('ignore');
  });
});

/**
 * The PostgreSQL Backend (src/db/pg/backend.ts), as two chainboot nodes see
 * it: two Backends opened on one database. A write on node A is in node B's
 * synchronous views right after `await B.fresh()` (templates, sites), and in
 * B's proxyDHCP host map once the notification arrives (polled for, bounded;
 * no fixed sleeps). Also: the task key made once for both nodes, taskCounts,
 * dhcpOverrides, retention by age and by count, close() twice, and the LISTEN
 * connection surviving pg_terminate_backend and catching up on what it missed.
 *
 * PostgreSQL must be able to run here: if it cannot, every test fails with
 * the reason (pgProblem()); nothing is skipped.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { profileInputSchema } from '../../src/boot/profile.js';
import { parseSiteInput } from '../../src/sites/model.js';
import { openPgBackend, LISTEN_APPLICATION_NAME, type PgBackend } from '../../src/db/pg/backend.js';
import { openBackend } from '../../src/db/backend.js';
import { redactUrl } from '../../src/db/pg/client.js';
import type { NewBootEvent } from '../../src/db/schema.js';
import { pgProblem, pgQuery, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { createIcuDatabase } from './backends.js';

let cluster: PgCluster | undefined;
const opened: PgBackend[] = [];

beforeAll(() => {
  // Fails (never skips) with the reason when PostgreSQL cannot run here.
  cluster = startPostgres();
}, 120_000);

afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
});

afterAll(() => {
  cluster?.stop();
});

let databases = 0;
async function newDatabase(): Promise<string> {
  if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
  return createIcuDatabase(cluster, `backend_${process.pid}_${++databases}`);
}

async function open(url: string, opts: { now?: () => number } = {}): Promise<PgBackend> {
  const b = await openPgBackend(url, opts);
  opened.push(b);
  return b;
}

/** Two nodes on one new database (opened one after the other: the first applies the migrations). */
async function twoNodes(opts: { now?: () => number } = {}) {
  const url = await newDatabase();
  const a = await open(url, opts);
  const b = await open(url, opts);
  return { url, a, b };
}

/** Waits for a condition, checking every 10 ms, for at most `ms`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sql = pgQuery;

const MAC = (i: number) => `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

describe('PostgreSQL backend, two nodes on one database', () => {
  it('PostgreSQL can run here (these tests need it; they fail, never skip, when it cannot)', () => {
    expect(pgProblem()).toBeNull();
    expect(cluster).toBeDefined();
  });

  it('opens through openBackend for a postgres:// URL, says where without a password, and answers ping', async () => {
    const url = await newDatabase();
    const b = (await openBackend({ databaseUrl: url, file: 'unused.db' })) as PgBackend;
    opened.push(b);
    expect(b.kind).toBe('postgres');
    expect(b.where).toBe(redactUrl(url));
    expect(b.sqlite).toBeUndefined();
    expect(b.pg).toBeDefined();
    await b.ping();
    expect(b.watcher.connected).toBe(true);
    expect(redactUrl('postgres://u:secret@db.example/x')).not.toContain('secret');
    // The migration made its counters.
    expect(await sql(url, 'select name, n::int as n from change_counters order by name')).toEqual([
      { name: 'sites', n: 0 },
      { name: 'templates', n: 0 },
    ]);
  });

  it('a template saved on node A is node B’s latestTemplate right after B.fresh()', async () => {
    const { a, b } = await twoNodes();
    expect(b.templates.latestTemplate('ipxe/local.ipxe')).toBeUndefined();
    const v1 = await a.store.saveTemplate('ipxe/local.ipxe', '#!ipxe\nexit 0\n', 'first');
    await b.fresh();
    expect(b.templates.latestTemplate('ipxe/local.ipxe')).toEqual(v1);
    const v2 = await a.store.saveTemplate('ipxe/local.ipxe', '#!ipxe\nexit 1\n');
    await b.fresh();
    expect(b.templates.latestTemplate('ipxe/local.ipxe')).toMatchObject({ version: 2, body: '#!ipxe\nexit 1\n', id: v2.id });
    // A's own view follows its own writes the same way.
    await a.fresh();
    expect(a.templates.latestTemplate('ipxe/local.ipxe')?.version).toBe(2);
  });

  it('fresh() called while a round is running still sees a write committed before the call', async () => {
    const { a, b } = await twoNodes();
    for (let i = 1; i <= 20; i++) {
      const running = b.fresh(); // its query may already be on its way, before the save below commits
      await a.store.saveTemplate('kickstart/x.cfg', `# ${i}\n`);
      await b.fresh();
      expect(b.templates.latestTemplate('kickstart/x.cfg')?.version).toBe(i);
      await running;
    }
    // Many at once: every caller gets a view with the last save.
    const last = await a.store.saveTemplate('kickstart/x.cfg', '# last\n');
    await Promise.all(Array.from({ length: 50 }, async () => {
      await b.fresh();
      expect(b.templates.latestTemplate('kickstart/x.cfg')?.version).toBe(last.version);
    }));
  });

  it('a site created on node A is in node B’s siteList() right after B.fresh(); edits and removals too', async () => {
    const { a, b } = await twoNodes();
    expect(b.siteList()).toEqual([]);
    const created = await a.sites.create(parseSiteInput({ name: 'branch', subnets: ['10.20.0.0/16'], relays: ['10.20.0.1'] }));
    await b.fresh();
    expect(b.siteList()).toEqual([created]);
    await a.sites.create(parseSiteInput({ name: 'Alpha', subnets: ['10.30.0.0/16'] }));
    await a.sites.replace('branch', parseSiteInput({ name: 'branch', subnets: ['10.21.0.0/16'] }));
    await b.fresh();
    // Bytewise order, as the SQLite store lists them ("Alpha" before "branch").
    expect(b.siteList().map((s) => [s.name, s.subnets, s.version])).toEqual([
      ['Alpha', ['10.30.0.0/16'], 1],
      ['branch', ['10.21.0.0/16'], 2],
    ]);
    // One array until the sites change (the site directory rebuilds its matcher only then), and frozen: no caller can change the view.
    expect(b.siteList()).toBe(b.siteList());
    expect(() => b.siteList().reverse()).toThrow(TypeError);
    expect(b.siteList()[0]!.name).toBe('Alpha');
    await a.sites.remove('Alpha');
    await b.fresh();
    expect(b.siteList().map((s) => s.name)).toEqual(['branch']);
  });

  it('an idle node follows template and site changes through the notification, without fresh()', async () => {
    const { a, b } = await twoNodes();
    await a.sites.create(parseSiteInput({ name: 'east', subnets: ['10.40.0.0/16'] }));
    await a.store.saveTemplate('ipxe/menu.ipxe', '#!ipxe\n');
    await until('node B sees site "east" and template ipxe/menu.ipxe', () =>
      b.siteList().some((s) => s.name === 'east') && b.templates.latestTemplate('ipxe/menu.ipxe')?.version === 1,
    );
  });

  it('views are loaded at open: a node opened after the writes has them before any fresh()', async () => {
    const { url, a } = await twoNodes();
    await a.store.saveTemplate('t', 'one');
    await a.sites.create(parseSiteInput({ name: 'west', subnets: ['10.50.0.0/16'] }));
    await a.store.createHost({ mac: MAC(7), dhcpMode: 'loader' });
    const c = await open(url);
    expect(c.templates.latestTemplate('t')?.body).toBe('one');
    expect(c.siteList().map((s) => s.name)).toEqual(['west']);
    expect(c.hostLookup(MAC(7))).toEqual({ dhcpMode: 'loader' });
  });

  it('node B’s hostLookup follows hosts created, changed and deleted on node A (notifications)', async () => {
    const { a, b } = await twoNodes();
    const mac = MAC(1);
    expect(b.hostLookup(mac)).toBeUndefined();
    await a.store.createHost({ mac, dhcpMode: 'ignore' });
    await until('B sees the new host as ignore', () => b.hostLookup(mac)?.dhcpMode === 'ignore');
    await a.store.updateHost(mac, { dhcpMode: 'loader' });
    await until('B sees the host as loader', () => b.hostLookup(mac)?.dhcpMode === 'loader');
    await a.store.discoverHost(MAC(2), {});
    await until('B sees the discovered host (follow)', () => b.hostLookup(MAC(2))?.dhcpMode === 'follow');
    await a.store.deleteHost(mac);
    await until('the deleted host is gone from B', () => b.hostLookup(mac) === undefined);
    expect(b.hostLookup(MAC(2))).toEqual({ dhcpMode: 'follow' });
    expect(b.hostLookup.stats.hosts).toBe(1);
    expect(b.hostLookup.stats.unknown).toBeGreaterThan(0);
    expect(b.hostLookup.stats.asked).toBeGreaterThan(0);
    // Only a change of dhcpMode (or a new or deleted host) is notified: other edits and the boot event
    // writer's last-seen updates are not. Notifications arrive in commit order, so once the dhcpMode change
    // below is seen, any notification of the edits before it would have been counted.
    const before = b.watcher.hostNotifications;
    await a.store.updateHost(MAC(2), { hostname: 'renamed', dhcpMode: 'follow' });
    await a.writeEvents([{ at: 1, mac: MAC(2), kind: 'script', request: '/ipxe', result: 'x', status: 200 }], new Map([[MAC(2), { first: 1, at: 1 }]]));
    await a.store.updateHost(MAC(2), { dhcpMode: 'ignore' });
    await until('B sees the host as ignore', () => b.hostLookup(MAC(2))?.dhcpMode === 'ignore');
    expect(b.watcher.hostNotifications - before).toBe(1);
    await a.store.updateHost(MAC(2), { dhcpMode: 'follow' });
    await until('B sees the host as follow', () => b.hostLookup(MAC(2))?.dhcpMode === 'follow');
    // Many hosts at once (an import): every one arrives.
    await a.store.importHosts(Array.from({ length: 300 }, (_, i) => ({ line: i + 1, mac: MAC(100 + i), profile: '' })));
    await until('B sees all 300 imported hosts', () => b.hostLookup.stats.hosts === 301);
    expect(b.hostLookup(MAC(399))).toEqual({ dhcpMode: 'follow' });
  });

  it('task counts, and the dhcpMode overrides in bytewise MAC order', async () => {
    const { a, b } = await twoNodes();
    const p = await a.store.createProfile(profileInputSchema.parse({ name: 'wipe', kind: 'local' }));
    const ids: number[] = [];
    for (const [i, mode] of (['ignore', 'follow', 'loader', 'follow'] as const).entries()) ids.push((await a.store.createHost({ mac: MAC(0xff - i * 0x70), dhcpMode: mode })).id);
    expect(await b.taskCounts()).toEqual(new Map());
    const created = await a.tasks.create({ hostIds: ids, profileId: p.id });
    await a.tasks.cancel(created[0]!.id);
    expect(await b.taskCounts()).toEqual(new Map([['pending', 3], ['cancelled', 1]]));
    expect(await b.dhcpOverrides()).toEqual([
      { mac: MAC(0x1f), dhcpMode: 'loader' },
      { mac: MAC(0xff), dhcpMode: 'ignore' },
    ]);
  });

  it('the task token key is made once for both nodes, even when both make it at the same moment', async () => {
    const { url, a, b } = await twoNodes();
    const p = await a.store.createProfile(profileInputSchema.parse({ name: 'wipe', kind: 'local' }));
    const h = await a.store.createHost({ mac: MAC(3) });
    const [t] = await a.tasks.create({ hostIds: [h.id], profileId: p.id });
    // tokenFor on both nodes at once: the first use of the key on each.
    const [ta, tb] = await Promise.all([a.tasks.tokenFor(t!), b.tasks.tokenFor(t!)]);
    expect(ta).toBe(tb);
    expect(await b.tasks.checkToken(t!, ta)).toBe(true);
    const keys = await sql<{ value: string }>(url, "select value from settings where key = 'task_token_key'");
    expect(keys).toHaveLength(1);
    expect(keys[0]!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A third node reads the same key.
    const c = await open(url);
    expect(await c.tasks.tokenFor(t!)).toBe(ta);
  });

  it('retention by age and by count, in batches, one pass at a time, stopping when asked', async () => {
    const DAY = 86_400_000;
    const NOW = 1_764_000_000_000;
    const { url, a, b } = await twoNodes({ now: () => NOW });
    const ev = (at: number, i: number): NewBootEvent => ({ at, mac: MAC(i), kind: 'script', request: '/ipxe', result: 'x', status: 200 });
    // 250 events 40 days old, then 300 from today.
    await a.writeEvents(Array.from({ length: 250 }, (_, i) => ev(NOW - 40 * DAY + i, i)), new Map());
    await a.writeEvents(Array.from({ length: 300 }, (_, i) => ev(NOW - 1000 + i, i)), new Map());
    const count = async () => Number((await sql<{ n: string }>(url, 'select count(*) as n from boot_events'))[0]!.n);
    expect(await count()).toBe(550);

    const pauses: number[] = [];
    const r = b.retention({ batchSize: 100, now: () => NOW, pause: async (ms) => void pauses.push(ms) });
    // Two callers during one pass share it.
    const [r1, r2] = await Promise.all([r.run({ maxAgeDays: 30, maxCount: 0 }), r.run({ maxAgeDays: 30, maxCount: 0 })]);
    expect(r1).toBe(r2);
    expect(r1).toMatchObject({ byAge: 250, byCount: 0, batches: 3 });
    expect(pauses).toHaveLength(2);
    expect(r1.maxBatchMs).toBeGreaterThan(0);
    expect(r1.ms).toBeGreaterThanOrEqual(r1.maxBatchMs);
    await r.idle();
    expect(await count()).toBe(300);

    // By count: the newest 120 stay.
    const byCount = await r.run({ maxAgeDays: 30, maxCount: 120 });
    expect(byCount).toMatchObject({ byAge: 0, byCount: 180 });
    const left = await sql<{ at: string }>(url, 'select at from boot_events order by id');
    expect(left).toHaveLength(120);
    expect(Number(left[0]!.at)).toBe(NOW - 1000 + 180);

    // Nothing to do: one cheap batch by age, none by count.
    expect(await r.run({ maxAgeDays: 30, maxCount: 1000 })).toMatchObject({ byAge: 0, byCount: 0, batches: 1 });

    // stopped() is checked between batches: a stopped pass deletes nothing more.
    await a.writeEvents(Array.from({ length: 500 }, (_, i) => ev(NOW - 50 * DAY + i, i)), new Map());
    let batches = 0;
    const stopping = b.retention({ batchSize: 100, now: () => NOW, stopped: () => batches >= 2, pause: async () => void batches++ });
    expect(await stopping.run({ maxAgeDays: 30, maxCount: 10 })).toMatchObject({ byAge: 200, byCount: 0, batches: 2 });
    expect(await count()).toBe(420);
    await stopping.idle();
  });

  it('retention passes on both nodes at once: no waiting on each other, every old event deleted once', async () => {
    const NOW = 1_764_000_000_000;
    const { url, a, b } = await twoNodes({ now: () => NOW });
    for (let k = 0; k < 4; k++) {
      await a.writeEvents(Array.from({ length: 1000 }, (_, i) => ({ at: NOW - 90 * 86_400_000 + k * 1000 + i, mac: MAC(i), kind: 'script', request: '/ipxe', result: 'x', status: 200 })), new Map());
    }
    await a.writeEvents(Array.from({ length: 10 }, (_, i) => ({ at: NOW - i, mac: MAC(i), kind: 'script', request: '/ipxe', result: 'x', status: 200 })), new Map());
    const [ra, rb] = await Promise.all([a, b].map((n) => n.retention({ batchSize: 50, now: () => NOW }).run({ maxAgeDays: 30, maxCount: 0 })));
    expect(ra!.byAge + rb!.byAge).toBe(4000);
    expect(await sql(url, 'select count(*)::int as n from boot_events')).toEqual([{ n: 10 }]);
  });

  it('an open that fails (here: not migrated, migrate: false) says why and leaves no connection behind', async () => {
    const url = await newDatabase();
    await expect(openPgBackend(url, { migrate: false })).rejects.toThrow(/^PostgreSQL at .*change_counters|relation .* does not exist/);
    await until('no connection left', async () => (await sql(url, 'select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()'))[0]!.n === 0);
  });

  it('close() twice is fine, and a closed backend refuses fresh()', async () => {
    const url = await newDatabase();
    const b = await openPgBackend(url, {});
    await b.close();
    await b.close();
    await Promise.all([b.close(), b.close()]);
    await expect(b.fresh()).rejects.toThrow(/closed/);
    expect(b.watcher.connected).toBe(false);
    // Its LISTEN connection is gone from the server.
    await until('no LISTEN connection left', async () => (await sql(url, 'select pid from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTEN_APPLICATION_NAME])).length === 0);
  });

  it('the LISTEN connection survives pg_terminate_backend: it reconnects and catches up on what it missed', async () => {
    const { url, a, b } = await twoNodes();
    const pid = b.watcher.pid;
    expect(pid).toBeTypeOf('number');
    expect(b.watcher.connects).toBe(1);
    const reloads = b.watcher.hostReloads;
    expect(await sql(url, 'select pg_terminate_backend($1) as ok', [pid])).toEqual([{ ok: true }]);
    // Written while B's watcher is down (its first reconnect waits 250 ms): no notification reaches B.
    await a.store.createHost({ mac: MAC(9), dhcpMode: 'ignore' });
    await a.sites.create(parseSiteInput({ name: 'north', subnets: ['10.60.0.0/16'] }));
    await until('B reconnected', () => b.watcher.connected && b.watcher.connects === 2 && b.watcher.pid !== pid);
    expect(b.watcher.lastError).toMatch(/LISTEN connection/);
    // The reconnect reloads the host map and the views.
    await until('B caught up on the host and the site', () => b.hostLookup(MAC(9))?.dhcpMode === 'ignore' && b.siteList().some((s) => s.name === 'north'));
    expect(b.watcher.hostReloads).toBeGreaterThan(reloads);
    // And notifications flow again on the new connection.
    await a.store.updateHost(MAC(9), { dhcpMode: 'follow' });
    await until('B sees the change through the new connection', () => b.hostLookup(MAC(9))?.dhcpMode === 'follow');
    // The process is still fine, and the old connection is not left behind.
    const listening = await sql<{ pid: number }>(url, 'select pid from pg_stat_activity where application_name = $1 and datname = current_database() order by pid', [LISTEN_APPLICATION_NAME]);
    expect(listening.map((r) => r.pid).sort()).toEqual([a.watcher.pid, b.watcher.pid].sort());
  });

  it('a dropped LISTEN connection retries with backoff until the server lets it back in', async () => {
    const { url, a, b } = await twoNodes();
    // Refuse new connections to this database for a moment, then drop B's watcher.
    const dbName = /\/(\w+)\?/.exec(url)![1]!;
    await sql(cluster!.url(), `alter database "${dbName}" with allow_connections false`);
    try {
      await sql(cluster!.url(), 'select pg_terminate_backend($1)', [b.watcher.pid]);
      await until('B noticed', () => !b.watcher.connected);
      await a.store.createHost({ mac: MAC(11), dhcpMode: 'loader' }); // the pool's open connections still work
      // A few attempts are refused (250 ms, 500 ms, …).
      await until('B tried and was refused', () => /not currently accepting connections|does not allow connections/i.test(b.watcher.lastError ?? ''), 3_000);
    } finally {
      await sql(cluster!.url(), `alter database "${dbName}" with allow_connections true`);
    }
    await until('B reconnected and caught up', () => b.watcher.connected && b.hostLookup(MAC(11))?.dhcpMode === 'loader', 15_000);
  });
});

/**
 * The UI's read models on PostgreSQL (src/ui/queries-pg.ts) against the
 * SQLite ones (src/ui/queries.ts): the same data is written through the
 * stores of each backend, then every query is asked the same questions on
 * both and must give the same answers: the host table in every sort, both
 * directions, page by page, with searches that hold LIKE's special
 * characters, backslashes, upper/lower case (ASCII and not), NULs and the
 * JSON of labels; the dashboard figures, failures, task counts, the preview
 * pickers. The PostgreSQL database uses ICU's en-US collation, where a
 * careless ORDER BY would sort differently from SQLite's bytes.
 *
 * PostgreSQL must be able to run here: if it cannot, the tests fail with the
 * reason (pgProblem()); nothing is skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createTaskStore } from '../../src/tasks/store.js';
import { profileInputSchema } from '../../src/boot/profile.js';
import type { Backend as ServiceBackend } from '../../src/db/backend.js';
import type { NewBootEvent } from '../../src/db/schema.js';
import type { SeenHost } from '../../src/db/store.js';
import { HOST_SORTS, uiQueriesFor, type UiQueries } from '../../src/ui/queries.js';
import { createPgUiQueries, pgHostsPageSql } from '../../src/ui/queries-pg.js';
import { sql } from 'drizzle-orm';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { awaitable, makeClock, openPgBackend, START, TASK_KEY, type AnyStore, type AnyTaskStore, type Clock } from '../db/backends.js';
import type { PgDb } from '../../src/db/pg/client.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const P = (input: unknown) => profileInputSchema.parse(input);
const MAC = (n: number) => `08:00:27:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;

interface Side {
  name: string;
  store: AnyStore;
  tasks: AnyTaskStore;
  clock: Clock;
  q: UiQueries;
  close(): Promise<void>;
}

let cluster: PgCluster | undefined;
let sqlite: Side;
let pg: Side;

function sqliteSide(): Side & { db: Db } {
  const clock = makeClock();
  const db = openDb(':memory:');
  const store = createStore(db, clock.now);
  const tasks = createTaskStore(db, () => TASK_KEY, clock.now);
  const { db: _db, writeEventBatch, ...rest } = store;
  return {
    name: 'sqlite',
    db,
    store: { ...awaitable(rest), writeEvents: async (events: NewBootEvent[], seen: Map<string, SeenHost>) => writeEventBatch(events, seen) },
    tasks: awaitable(tasks) as AnyTaskStore,
    clock,
    // Through uiQueriesFor, as the service makes them.
    q: uiQueriesFor({ kind: 'sqlite', sqlite: { db, file: ':memory:' } } as unknown as ServiceBackend),
    async close() {
      db.$client.close();
    },
  };
}

async function pgSide(c: PgCluster): Promise<Side & { db: PgDb }> {
  const b = await openPgBackend(c);
  return {
    name: 'postgres',
    db: b.db,
    store: b.store,
    tasks: b.tasks,
    clock: b.clock,
    q: uiQueriesFor({ kind: 'postgres', pg: b.db } as unknown as ServiceBackend),
    close: () => b.close(),
  };
}

/** The same hosts, profiles, tasks and boot events, written through either backend's stores. */
async function seed(s: Side): Promise<void> {
  const { store, tasks, clock } = s;
  for (const p of [
    P({ name: 'alpha', kind: 'chain', url: 'http://10.9.9.9/x.ipxe' }),
    P({ name: 'Zeta', kind: 'local', method: 'sanboot' }),
    P({ name: 'beta_1', kind: 'local' }),
    // Names the admin would refuse, written straight to the store: LIKE's special characters.
    { ...P({ name: 'x', kind: 'local' }), name: 'beta%2' },
    { ...P({ name: 'x', kind: 'local' }), name: '_under' },
    P({ name: 'deb', kind: 'linux', kernel: 'deb/linux', initrds: ['deb/initrd.gz'], files: { 'preseed.cfg': 'preseed/default.cfg' } }),
    P({ name: 'm1', kind: 'menu', entries: ['deb', 'alpha'] }),
  ])
    await store.createProfile(p);

  // Host names that sort differently by bytes, by ASCII folding and by a language collation.
  const names: (string | null)[] = ['Web01', 'web02', 'WEB03', 'web-04', 'web_05', 'db1', 'DB2', null, 'Émile', 'émile', 'zulu', 'Zulu', 'alpha', '_x', '[brackets]', 'a%b', 'a_b', 'a\\b', 'Straße', 'STRASSE', 'ÄRGER', 'ärger', 'x', 'X', null];
  const notes = ['', '50% done', 'under_score', 'back\\slash', 'ÄÖÜ äöü', 'Straße', 'Mixed CASE note', 'quote " and \' here', 'tab\there', ''];
  const profiles = [null, 'alpha', 'Zeta', 'beta_1', 'beta%2', '_under', 'deb', 'm1', null];
  const labelSets = [[], ['lab1'], ['lab1', 'lab2'], ['Rack-12'], ['rack-12', 'a.b'], ['x_y'], []];
  for (let i = 0; i < 60; i++) {
    clock.tick(1000);
    await store.createHost({
      mac: MAC(i * 7 + (i % 3) * 256),
      hostname: names[i % names.length] ?? null,
      profile: profiles[i % profiles.length],
      notes: notes[i % notes.length],
      labels: labelSets[i % labelSets.length],
      menuMode: i % 11 === 0 ? 'always' : i % 13 === 0 ? 'key' : 'never',
      dhcpMode: i % 17 === 0 ? 'ignore' : 'follow',
    });
  }
  // Discovered hosts (booted, never managed), one with a MAC that sorts first and one last.
  await store.discoverHost('00:00:00:00:00:01', { arch: 'x86_64' });
  await store.discoverHost('ff:ff:ff:ff:ff:fe', {});

  // Tasks in every state: open ones (the "current task" column), finished ones today and before.
  const hostId = async (n: number) => (await store.getHostRow(MAC(n * 7 + (n % 3) * 256)))!.id;
  const prof = async (name: string) => (await store.getProfile(name))!.id;
  const one = async (n: number, profile: string) => (await tasks.create({ hostIds: [await hostId(n)], profileId: await prof(profile) }))[0]!;
  await one(1, 'deb');
  await one(2, 'alpha');
  const served = await one(3, 'deb');
  await tasks.served(served);
  const running = await tasks.served(await one(4, 'Zeta'));
  await tasks.report(running.id, 'running', 'installing');
  const done = await tasks.served(await one(5, 'deb'));
  await tasks.report(done.id, 'done', 'ok');
  const failed = await tasks.served(await one(6, 'deb'));
  await tasks.report(failed.id, 'failed', 'disk full');
  await one(7, 'beta_1');
  await tasks.create({ hostIds: [await hostId(8), await hostId(9), await hostId(10)], profileId: await prof('alpha'), comment: 'batch' });
  const cancelled = await one(11, 'deb');
  await tasks.cancel(cancelled.id);

  // Boot events: some hosts seen long ago, some today, failures, transfers with bytes, same-millisecond events.
  const events: NewBootEvent[] = [];
  const seen = new Map<string, SeenHost>();
  const base = clock.now();
  for (let i = 0; i < 40; i++) {
    const mac = MAC(i * 7 + (i % 3) * 256);
    const at = base - (i % 4 === 0 ? 3 * DAY : i % 4 === 1 ? 2 * HOUR : i % 4 === 2 ? 10 * 60_000 : 30_000) + i;
    events.push({ at, mac, clientIp: `10.0.${i % 5}.${i}`, kind: 'dhcp', request: 'DISCOVER', result: 'offer', status: 200 });
    events.push({ at: at + 1, mac, clientIp: `10.1.${i % 5}.${i}`, kind: 'tftp', request: 'ipxe.efi', result: 'sent', status: 200, detail: { bytes: 1_000_000 + i } });
    events.push({ at: at + 2, mac, clientIp: `10.1.${i % 5}.${i}`, kind: 'script', request: 'boot.ipxe', result: 'linux deb', status: 200 });
    // Two events in the same millisecond: the later-written one is the host's last step.
    events.push({ at: at + 3, mac, clientIp: `10.2.${i % 5}.${i}`, kind: 'asset', request: 'deb/linux', result: 'sent', status: 200, detail: { bytes: 5_000_000 + i } });
    events.push({ at: at + 3, mac, clientIp: `10.3.${i % 5}.${i}`, kind: i % 3 === 0 ? 'file' : 'loader', request: 'x', result: i % 3 === 0 ? 'render error' : 'sent', status: i % 3 === 0 ? 500 : 200, detail: i % 3 === 0 ? null : { bytes: 7 } });
    if (i % 6 === 1) events.push({ at: at + 4, mac, clientIp: null, kind: 'asset', request: 'missing', result: 'not found', status: 404, detail: { bytes: 0 } });
    if (i % 9 === 2) events.push({ at: at + 5, mac, clientIp: '10.9.9.9', kind: 'dhcp', request: 'REQUEST', result: 'ack', status: 200 });
    seen.set(mac, { first: at, at: at + 5, facts: i % 2 ? { arch: 'x86_64' } : undefined });
  }
  // An event with no host, a transfer whose bytes are not a number, and an old failure.
  events.push({ at: base - 1000, mac: null, clientIp: '10.7.7.7', kind: 'tftp', request: 'nope.efi', result: 'not found', status: 404, detail: { bytes: 'many' } });
  events.push({ at: base - 9 * DAY, mac: MAC(0), clientIp: '10.0.0.0', kind: 'script', request: 'boot.ipxe', result: 'error', status: 500 });
  events.sort((a, b) => a.at - b.at);
  await store.writeEvents(events, seen);
}

beforeAll(async () => {
  // Fails (never skips) with the reason when PostgreSQL cannot run here.
  cluster = startPostgres();
  sqlite = sqliteSide();
  pg = await pgSide(cluster);
  await seed(sqlite);
  await seed(pg);
  expect(pg.clock.now()).toBe(sqlite.clock.now());
}, 120_000);

afterAll(async () => {
  await sqlite?.close();
  await pg?.close();
  cluster?.stop();
});

/** Asks both sides; the answers must be equal; returns SQLite's. */
async function same<T>(label: string, ask: (q: UiQueries) => Promise<T>): Promise<T> {
  const [a, b] = await Promise.all([ask(sqlite.q), ask(pg.q)]);
  expect(b, `${label}: PostgreSQL differs from SQLite`).toEqual(a);
  return a;
}

const SEARCHES = [
  '',
  '   ',
  'web',
  'WEB',
  'Web0',
  '  web  ',
  '%',
  '_',
  '50%',
  '50_',
  'a%b',
  'a_b',
  '\\',
  'a\\b',
  'back\\slash',
  '[',
  '"',
  'lab1',
  '"lab1"',
  'lab1","lab2',
  'lab1", "lab2',
  'rack-12',
  'RACK',
  'ä',
  'Ä',
  'ärger',
  'ÄRGER',
  'émile',
  'straße',
  'STRASSE',
  'strasse',
  '08-00-27-00-00-15',
  '08:00:27:00:01',
  '08:00:27:00:00:0E',
  'FF:FF',
  'alpha',
  'ALPHA',
  'beta%',
  'beta_',
  'deb',
  'no such thing',
  "'",
  'tab\there',
  'x\0y',
  '\0',
  'x',
];

describe('PostgreSQL UI queries answer as the SQLite ones', () => {
  it('the data is there on both sides (not trivially equal)', async () => {
    const all = await same('all hosts', (q) => q.hostsPage({ limit: 1000, offset: 0 }));
    expect(all.total).toBe(62);
    expect(all.rows).toHaveLength(62);
    expect(new Set(all.rows.map((r) => r.status))).toEqual(new Set(['ok', 'failing', 'new', 'discovered']));
    expect(all.rows.filter((r) => r.taskId !== null).length).toBeGreaterThan(5);
  });

  it('host table: every sort, both directions, page by page (no row twice, none lost)', async () => {
    for (const sort of HOST_SORTS) {
      for (const dir of ['asc', 'desc'] as const) {
        const whole = await same(`${sort} ${dir} whole`, (q) => q.hostsPage({ sort, dir, limit: 100, offset: 0 }));
        const paged = [];
        for (let offset = 0; offset < whole.total + 7; offset += 9) {
          const page = await same(`${sort} ${dir} offset ${offset}`, (q) => q.hostsPage({ sort, dir, limit: 9, offset }));
          expect(page.total).toBe(whole.total);
          paged.push(...page.rows);
        }
        expect(paged.map((r) => r.mac)).toEqual(whole.rows.map((r) => r.mac));
      }
    }
  });

  it('host table sort keys as SQLite orders them (bytes; NOCASE folds ASCII only)', async () => {
    const byName = await same('hostname asc', (q) => q.hostsPage({ sort: 'hostname', limit: 100, offset: 0 }));
    const names = byName.rows.map((r) => r.hostname).filter((n) => n !== null);
    // A language collation would put "Émile" near "emile" and ignore "_"/"[": bytes put them apart.
    expect(names.indexOf('[brackets]')).toBeLessThan(names.indexOf('_x'));
    expect(names.indexOf('_x')).toBeLessThan(names.indexOf('a%b'));
    expect(names.indexOf('zulu')).toBeLessThan(names.indexOf('ÄRGER'));
    expect(names.indexOf('ÄRGER')).toBeLessThan(names.indexOf('Émile'));
    expect(byName.rows.slice(-2).map((r) => r.hostname)).toEqual([null, null]);
    const byMac = await same('mac desc', (q) => q.hostsPage({ sort: 'mac', dir: 'desc', limit: 1, offset: 0 }));
    expect(byMac.rows[0]!.mac).toBe('ff:ff:ff:ff:ff:fe');
  });

  it('searches: LIKE special characters are literal, ASCII case folds, other letters do not, NUL ends the pattern', async () => {
    const found: Record<string, number> = {};
    for (const search of SEARCHES) {
      for (const sort of ['mac', 'hostname', 'status'] as const) {
        const r = await same(`search ${JSON.stringify(search)} by ${sort}`, (q) => q.hostsPage({ q: search, sort, dir: sort === 'status' ? 'desc' : 'asc', limit: 5, offset: 0 }));
        found[search] = r.total;
        if (r.total > 5) await same(`search ${JSON.stringify(search)} by ${sort}, page 2`, (q) => q.hostsPage({ q: search, sort, limit: 5, offset: 5 }));
      }
    }
    // What the answers are, not only that they agree.
    expect(found['%']).toBeLessThan(found['']!);
    expect(found['%']).toBeGreaterThan(0);
    expect(found['web']).toBe(found['WEB']);
    expect(found['no such thing']).toBe(0);
    expect(found['lab1","lab2']).toBeGreaterThan(0); // SQLite's JSON text of labels
    expect(found['lab1", "lab2']).toBe(0); // not jsonb's
    expect(found['08-00-27-00-00-15']).toBe(1);
    expect(found['x\0y']).toBeGreaterThan(0); // the pattern ends at the NUL: "%x"
    const rows = async (search: string) => (await pg.q.hostsPage({ q: search, limit: 100, offset: 0 })).rows;
    // Only ASCII letters fold (SQLite's LIKE): "ÄRGER" does not find "ärger", "web" finds "WEB03".
    const upper = await rows('ÄRGER');
    expect(upper.length).toBeGreaterThan(0);
    expect(upper.every((r) => r.hostname === 'ÄRGER')).toBe(true);
    expect((await rows('web')).map((r) => r.hostname)).toContain('WEB03');
    const pct = await rows('a%b');
    expect(pct.length).toBeGreaterThan(0);
    expect(pct.every((r) => r.hostname === 'a%b')).toBe(true);
    const slash = await rows('a\\b');
    expect(slash.length).toBeGreaterThan(0);
    expect(slash.every((r) => r.hostname === 'a\\b')).toBe(true);
  });

  it('dashboard figures, failures and task counts', async () => {
    const now = sqlite.clock.now();
    for (const since of [now - 12 * HOUR, now - HOUR / 2, now - 10 * DAY, now + DAY]) {
      const d = await same(`dashboard since ${now - since}`, (q) => q.dashboard(since, now));
      if (since === now - 12 * HOUR) {
        expect(d.hosts).toBe(62);
        expect(d.discovered).toBe(2);
        expect(d.bootedToday).toBeGreaterThan(0);
        expect(d.tasksFailedToday).toBe(1);
        expect(d.errorEventsToday).toBeGreaterThan(0);
        expect(d.today.tftp.transfers).toBeGreaterThan(0);
        expect(d.today.http.bytes).toBeGreaterThan(5_000_000);
        expect(d.lastHour.tftp.bytes).toBeGreaterThan(0);
      }
      await same(`failures since ${now - since}`, (q) => q.recentFailures(since, 8));
      await same(`all failures since ${now - since}`, (q) => q.recentFailures(since, 1000));
    }
    const counts = await same('task counts', (q) => q.taskCounts());
    expect(counts).toEqual({ pending: 6, served: 1, running: 1, done: 1, failed: 1, cancelled: 1 });
  });

  it('pickers: hosts per profile, preview candidates, last address, MAC by host name, import lookups', async () => {
    const perProfile = await same('hosts per profile', (q) => q.hostsPerProfile());
    expect([...perProfile.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(30);
    const ids = await Promise.all(['deb', 'alpha', 'Zeta'].map(async (n) => (await sqlite.store.getProfile(n))!.id));
    for (const sel of [[], [ids[0]!], ids, [ids[1]!, 99_999]]) for (const limit of [3, 30]) await same(`preview candidates ${sel} ${limit}`, (q) => q.previewCandidates(sel, limit));
    for (let i = 0; i < 45; i++) await same(`last address ${i}`, (q) => q.lastClientIp(MAC(i * 7 + (i % 3) * 256)));
    expect(await sqlite.q.lastClientIp(MAC(9 * 7 + 0))).toMatch(/^10\.3\./);
    for (const name of ['web01', 'WEB01', 'Web01', 'émile', 'Émile', 'EMILE', 'zulu', 'db1', 'DB1', 'nope', '', 'a%b', 'a_b', 'x\0y', 'straße', 'STRASSE']) await same(`mac by host name ${JSON.stringify(name)}`, (q) => q.macByHostname(name));
    const macs = [MAC(0), MAC(21), '00:00:00:00:00:01', '99:99:99:99:99:99', MAC(21)];
    const known = await same('host profiles', (q) => q.hostProfiles(macs));
    expect(known.size).toBe(3);
    await same('host profiles of none', (q) => q.hostProfiles([]));
  });

  it('the default order (MAC) can be read off hosts_mac_unique on PostgreSQL, whatever the collation', async () => {
    const db = (pg as Side & { db: PgDb }).db;
    const plan = await db.transaction(async (tx) => {
      // Sorting priced out: a plan that still sorts could not use the index for this order.
      await tx.execute(sql`set local enable_sort = off`);
      await tx.execute(sql`set local enable_seqscan = off`);
      return (await tx.execute(sql.raw('explain ' + pgHostsPageSql('mac', 'asc')))).rows.map((r) => String(Object.values(r)[0])).join('\n');
    });
    expect(plan).toMatch(/hosts_mac_unique/);
    expect(plan).not.toMatch(/\bSort\b/);
  });

  it('a host page is one snapshot on PostgreSQL even while hosts are added', async () => {
    const q = createPgUiQueries((pg as Side & { db: PgDb }).db);
    const before = await q.hostsPage({ limit: 1000, offset: 0 });
    const [page] = await Promise.all([q.hostsPage({ limit: 1000, offset: 0 }), pg.store.createHost({ mac: 'fe:00:00:00:00:01' })]);
    expect(page.rows).toHaveLength(page.total);
    expect([before.total, before.total + 1]).toContain(page.total);
    await pg.store.deleteHost('fe:00:00:00:00:01');
  });
});

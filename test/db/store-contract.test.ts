/**
 * One contract, two databases: every case below runs first on the SQLite
 * stores (wrapped so their calls can be awaited) and then on the PostgreSQL
 * stores (a fresh database of a throwaway cluster per case), recording each
 * step's result or error. The case asserts what it expects on each backend
 * as it goes, and at the end the two transcripts must be equal step for step:
 * same rows, same JSON values, same booleans and 64-bit times, same errors
 * with the same messages. Random values (task nonces, batch ids) are
 * replaced by placeholders after their shape is checked.
 *
 * PostgreSQL must be able to run here: if it cannot, every case fails with
 * the reason (pgProblem()); nothing is skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profileInputSchema } from '../../src/boot/profile.js';
import { parseSiteInput } from '../../src/sites/model.js';
import type { NewBootEvent } from '../../src/db/schema.js';
import type { SeenHost } from '../../src/db/store.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../src/errors.js';
import { pgProblem, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { openPgBackend, openSqliteBackend, START, type Backend } from './backends.js';

let cluster: PgCluster | undefined;

beforeAll(() => {
  // Fails (never skips) with the reason when PostgreSQL cannot run here.
  cluster = startPostgres();
}, 120_000);

afterAll(() => {
  cluster?.stop();
});

type Outcome = { value: unknown } | { error: { name: string; message: string } };

/** Replaces values that are random by design with placeholders, checking their shape first. */
function normalizer() {
  const batches = new Map<string, string>();
  const walk = (v: unknown, key?: string): unknown => {
    if (key === 'nonce' && typeof v === 'string') {
      expect(v).toMatch(/^[A-Za-z0-9_-]{22}$/);
      return '<nonce>';
    }
    if (key === 'batch' && typeof v === 'string') {
      expect(v).toMatch(/^[0-9a-f]{12}$/);
      if (!batches.has(v)) batches.set(v, `<batch ${batches.size + 1}>`);
      return batches.get(v);
    }
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return (v: unknown) => walk(v);
}

class Transcript {
  readonly steps: [string, Outcome][] = [];
  private readonly normalize = normalizer();
  constructor(readonly backend: string) {}

  /** A step that must succeed; its result is recorded and returned. */
  async ok<T>(label: string, p: Promise<T>): Promise<T> {
    let v: T;
    try {
      v = await p;
    } catch (e) {
      throw new Error(`${this.backend}: step "${label}" failed: ${(e as Error).message}`, { cause: e });
    }
    this.steps.push([label, { value: this.normalize(v) }]);
    return v;
  }

  /** A step that must fail with this error class; the error is recorded and returned. */
  async fails(label: string, p: Promise<unknown>, cls: new (m: string) => Error, message: string | RegExp): Promise<Error> {
    let err: Error | undefined;
    try {
      await p;
    } catch (e) {
      err = e as Error;
    }
    if (!err) throw new Error(`${this.backend}: step "${label}" succeeded but should have failed with ${cls.name}`);
    expect(err, `${this.backend}: ${label}`).toBeInstanceOf(cls);
    if (typeof message === 'string') expect(err.message, `${this.backend}: ${label}`).toBe(message);
    else expect(err.message, `${this.backend}: ${label}`).toMatch(message);
    this.steps.push([label, { error: { name: err.name, message: err.message } }]);
    return err;
  }

  /** A value computed from earlier results, recorded for comparison. */
  note(label: string, v: unknown): void {
    this.steps.push([label, { value: this.normalize(v) }]);
  }
}

/** Runs the scenario on SQLite, then on PostgreSQL, and compares the transcripts step by step. */
function contract(name: string, scenario: (b: Backend, t: Transcript) => Promise<void>) {
  it(name, async () => {
    if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
    const transcripts: Transcript[] = [];
    for (const open of [async () => openSqliteBackend(), () => openPgBackend(cluster!)]) {
      const b = await open();
      const t = new Transcript(b.name);
      try {
        await scenario(b, t);
      } finally {
        await b.close();
      }
      transcripts.push(t);
    }
    const [sqlite, pg] = transcripts as [Transcript, Transcript];
    expect(sqlite.steps.length).toBeGreaterThan(0);
    expect(pg.steps.map((s) => s[0])).toEqual(sqlite.steps.map((s) => s[0]));
    for (const [i, [label, outcome]] of sqlite.steps.entries()) expect(pg.steps[i]![1], `step ${i} "${label}": postgres vs sqlite`).toEqual(outcome);
  });
}

const P = (input: unknown) => profileInputSchema.parse(input);
const debInput = {
  name: 'deb',
  kind: 'linux',
  description: 'Debian 12 — netinst',
  kernel: 'deb/linux',
  initrds: ['deb/initrd.gz', 'deb/firmware.cpio.gz'],
  cmdline: 'quiet ks=<%= it.urls.file("ks.cfg") %>',
  files: { 'ks.cfg': 'kickstart/rhel.cfg', 'preseed.cfg': 'preseed/debian.cfg' },
  variables: { tz: 'Europe/Zürich', disk: '/dev/sda' },
  secrets: { rootpw: { value: 'pä$$"\'w0rd', always: true }, key: { value: 'k' } },
};
const MAC = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;

describe('PostgreSQL', () => {
  it('can run here (the contract below needs it; it fails, never skips, when it cannot)', () => {
    expect(pgProblem()).toBeNull();
    expect(cluster).toBeDefined();
  });
});

describe('store contract: profiles', () => {
  contract('create, list in byte order, get, replace with rename, and every delete refusal', async (b, t) => {
    const deb = await t.ok('create deb', b.store.createProfile(P(debInput)));
    expect(deb).toMatchObject({ id: 1, name: 'deb', kind: 'linux', createdAt: START, updatedAt: START, options: {}, secrets: { rootpw: { value: 'pä$$"\'w0rd', always: true } } });
    await t.fails('create deb again', b.store.createProfile(P(debInput)), ConflictError, 'profile "deb" already exists');
    await t.ok('create Zeta', b.store.createProfile(P({ name: 'Zeta', kind: 'local', method: 'sanboot' })));
    await t.ok('create alpha', b.store.createProfile(P({ name: 'alpha', kind: 'chain', url: 'http://10.9.9.9/x.ipxe' })));
    await t.ok('create _under', b.store.createProfile(P({ name: 'wim', kind: 'wimboot', bcd: 'w/bcd', bootSdi: 'w/boot.sdi', bootWim: 'w/boot.wim', inject: ['autorun.bat'] })));
    const names = (await t.ok('list', b.store.listProfiles())).map((p) => p.name);
    expect(names).toEqual(['Zeta', 'alpha', 'deb', 'wim']);
    expect(await t.ok('get deb', b.store.getProfile('deb'))).toEqual(deb);
    expect(await t.ok('get missing', b.store.getProfile('nope'))).toBeUndefined();
    expect(await t.ok('get by id', b.store.getProfileById(deb.id))).toEqual(deb);
    expect(await t.ok('get by missing id', b.store.getProfileById(999))).toBeUndefined();

    b.clock.tick(1000);
    const beta = await t.ok('rename alpha to beta', b.store.replaceProfile('alpha', P({ name: 'beta', kind: 'chain', url: 'http://10.9.9.9/y.ipxe' })));
    expect(beta).toMatchObject({ name: 'beta', options: { url: 'http://10.9.9.9/y.ipxe' }, createdAt: START, updatedAt: START + 1000 });
    await t.fails('replace missing', b.store.replaceProfile('alpha', P({ name: 'alpha', kind: 'local' })), NotFoundError, 'profile "alpha" does not exist');
    await t.fails('rename onto another', b.store.replaceProfile('beta', P({ name: 'deb', kind: 'local' })), ConflictError, 'profile "deb" already exists');

    await t.ok('menu of deb', b.store.createProfile(P({ name: 'm1', kind: 'menu', entries: ['deb', 'beta'], title: 'Menü ✓' })));
    await t.ok('menu of deb 2', b.store.createProfile(P({ name: 'm0', kind: 'menu', entries: ['deb'] })));
    await t.ok('host on Zeta', b.store.createHost({ mac: MAC(1), profile: 'Zeta' }));
    await t.ok('host on Zeta 2', b.store.createHost({ mac: MAC(2), profile: 'Zeta' }));
    await t.ok('site defaulting to wim', b.sites.create(parseSiteInput({ name: 'branch', subnets: ['10.20.0.0/16'], defaultProfile: 'wim' })));
    await t.fails('delete a menu entry', b.store.deleteProfile('deb'), ConflictError, 'profile "deb" is an entry of menu(s) m1, m0');
    await t.fails('delete a host profile', b.store.deleteProfile('Zeta'), ConflictError, 'profile "Zeta" is used by 2 host(s); move them to another profile first');
    await t.fails('delete a site default', b.store.deleteProfile('wim'), ConflictError, 'profile "wim" is the default profile of site(s) branch');
    await t.fails('delete missing', b.store.deleteProfile('nope'), NotFoundError, 'profile "nope" does not exist');
    await t.ok('delete m1', b.store.deleteProfile('m1'));
    await t.ok('delete m0', b.store.deleteProfile('m0'));
    await t.ok('delete deb', b.store.deleteProfile('deb'));
    expect((await t.ok('list after', b.store.listProfiles())).map((p) => p.name)).toEqual(['Zeta', 'beta', 'wim']);
  });
});

describe('store contract: hosts', () => {
  contract('create, read (masked and raw), update with versions, delete', async (b, t) => {
    await b.store.createProfile(P(debInput));
    await b.store.createProfile(P({ name: 'local', kind: 'local' }));
    const full = {
      mac: MAC(1),
      hostname: 'web01',
      profile: 'deb',
      variables: { disk: '/dev/nvme0n1', zone: 'b' },
      notes: 'rack 12 — top',
      dhcpMode: 'loader' as const,
      labels: ['lab', 'rack-12'],
      secrets: { join: { value: 's3cr3t', always: true }, pw: { value: 'x' } },
      menuMode: 'key' as const,
      menuTimeout: 9,
      menuProfiles: ['deb', 'local'],
    };
    const h = await t.ok('create full', b.store.createHost(full));
    expect(h).toMatchObject({ id: 1, mac: MAC(1), profile: 'deb', discovered: false, version: 1, secrets: { join: { set: true, always: true }, pw: { set: true, always: false } }, firstSeen: null, createdAt: START });
    await t.fails('create again', b.store.createHost({ mac: MAC(1) }), ConflictError, `host ${MAC(1)} already exists`);
    await t.fails('create with missing profile', b.store.createHost({ mac: MAC(2), profile: 'ghost' }), NotFoundError, 'profile "ghost" does not exist');
    const bare = await t.ok('create bare', b.store.createHost({ mac: MAC(2) }));
    expect(bare).toMatchObject({ id: 2, hostname: null, profile: null, variables: {}, labels: [], secrets: {}, dhcpMode: 'follow', menuMode: 'never', menuTimeout: 5 });
    expect(await t.ok('get', b.store.getHost(MAC(1)))).toEqual(h);
    expect(await t.ok('get missing', b.store.getHost(MAC(9)))).toBeUndefined();
    expect((await t.ok('raw row', b.store.getHostRow(MAC(1))))?.secrets).toEqual(full.secrets);
    const hp = await t.ok('host and profile', b.store.hostAndProfile(MAC(1)));
    expect(hp.profile?.name).toBe('deb');
    expect(hp.host?.secrets.join?.value).toBe('s3cr3t');
    expect(await t.ok('host without profile', b.store.hostAndProfile(MAC(2)))).toMatchObject({ profile: undefined });
    expect(await t.ok('unknown host', b.store.hostAndProfile(MAC(9)))).toEqual({ host: undefined, profile: undefined });

    b.clock.tick(5000);
    const u = await t.ok('update', b.store.updateHost(MAC(1), { hostname: 'web02', labels: ['lab'], profile: 'local', menuMode: 'always', expectVersion: 1 }));
    expect(u).toMatchObject({ hostname: 'web02', profile: 'local', labels: ['lab'], version: 2, updatedAt: START + 5000, notes: 'rack 12 — top' });
    await t.fails('update from a stale version', b.store.updateHost(MAC(1), { notes: 'x', expectVersion: 1 }), ConflictError, `host ${MAC(1)} was changed meanwhile (now version 2, you had 1): reload and apply your change again`);
    expect(await t.ok('clear profile', b.store.updateHost(MAC(1), { profile: '' }))).toMatchObject({ profile: null, profileId: null, version: 3 });
    expect(await t.ok('null hostname, secrets', b.store.updateHost(MAC(1), { hostname: null, secrets: {}, variables: {} }))).toMatchObject({ hostname: null, secrets: {}, version: 4 });
    await t.fails('update missing', b.store.updateHost(MAC(9), { notes: 'x' }), NotFoundError, `host ${MAC(9)} does not exist`);
    await t.fails('update to missing profile', b.store.updateHost(MAC(2), { profile: 'ghost' }), NotFoundError, 'profile "ghost" does not exist');
    await t.ok('delete', b.store.deleteHost(MAC(2)));
    await t.fails('delete again', b.store.deleteHost(MAC(2)), NotFoundError, `host ${MAC(2)} does not exist`);
    expect(await t.ok('list', b.store.listHosts())).toMatchObject({ total: 1 });
  });

  contract('list: search like SQLite (ASCII case folding, % and _ as wildcards, no escape), byte order, paging', async (b, t) => {
    await b.store.createProfile(P({ name: 'local', kind: 'local' }));
    const rows: [number, string | null, string][] = [
      [0x1b, 'Web-A', ''],
      [0x0a, 'web_b', 'C:\\path\\to'],
      [0x2c, 'db%1', ''],
      [0x03, 'Ärger', 'ärger note'],
      [0xff, null, 'spare — shelf 3'],
    ];
    for (const [n, hostname, notes] of rows) await b.store.createHost({ mac: MAC(n), hostname, notes, profile: n === 3 ? 'local' : null });
    const macs = async (label: string, q?: string, limit?: number, offset?: number) => {
      const r = await t.ok(label, b.store.listHosts({ q, limit, offset }));
      return { total: r.total, macs: r.hosts.map((h) => h.mac) };
    };
    expect(await macs('all')).toEqual({ total: 5, macs: [MAC(3), MAC(0x0a), MAC(0x1b), MAC(0x2c), MAC(0xff)] });
    expect(await macs('mac in capitals', '52:54:00:00:00:1B')).toEqual({ total: 1, macs: [MAC(0x1b)] });
    expect(await macs('ASCII folded', 'WEB')).toEqual({ total: 2, macs: [MAC(0x0a), MAC(0x1b)] });
    expect((await macs('non-ASCII not folded', 'äRGER')).macs).toEqual([MAC(3)]);
    expect(await macs('non-ASCII exact', 'Ärg')).toEqual({ total: 1, macs: [MAC(3)] });
    expect((await macs('non-ASCII other case', 'ÄRGER note')).total).toBe(0);
    expect((await macs('underscore is a wildcard', 'web_')).total).toBe(2);
    expect((await macs('percent is a wildcard', 'db%')).total).toBe(1);
    expect((await macs('backslash is literal', 'C:\\path')).macs).toEqual([MAC(0x0a)]);
    expect((await macs('no match', 'zzz')).total).toBe(0);
    expect(await macs('page', undefined, 2, 1)).toEqual({ total: 5, macs: [MAC(0x0a), MAC(0x1b)] });
    expect(await macs('page past the end', undefined, 2, 10)).toEqual({ total: 5, macs: [] });
    expect(await macs('search and page', '52:54', 1, 4)).toEqual({ total: 5, macs: [MAC(0xff)] });
  });

  contract('discover, boot events with last-seen times and facts, event filters', async (b, t) => {
    await t.ok('known host', b.store.createHost({ mac: MAC(1), hostname: 'known' }));
    const d = await t.ok('discover', b.store.discoverHost(MAC(2), { manufacturer: 'QEMU', serial: 'SN2' }));
    expect(d).toMatchObject({ id: 2, discovered: true, facts: { manufacturer: 'QEMU', serial: 'SN2' }, firstSeen: START, lastSeen: START });
    b.clock.tick(10);
    expect(await t.ok('discover again', b.store.discoverHost(MAC(2), { other: 'x' }))).toEqual(d);
    const t1 = START + 100;
    const events: NewBootEvent[] = [
      { at: t1, mac: MAC(1), clientIp: '10.0.0.9', kind: 'script', request: '/ipxe', result: 'local (no profile)', status: 200, detail: { boot: 'b1', site: 'branch', nested: { n: 1, ok: true } } },
      { at: t1 + 1, mac: null, clientIp: '10.0.0.9', kind: 'entry', request: '/boot.ipxe', result: 'entry script', status: 200, detail: null },
      { at: t1 + 2, mac: MAC(2), kind: 'loader', request: 'ipxe.efi', result: 'sent', detail: {} },
      { at: t1 + 3, mac: MAC(9), clientIp: '10.0.0.10', kind: 'error', request: '/ipxe', result: 'render error: ü', status: 500 },
    ];
    const seen = new Map<string, SeenHost>([
      [MAC(1), { first: t1, at: t1 + 5, facts: { arch: 'x86_64', platform: 'efi' } }],
      [MAC(2), { first: t1 + 2, at: t1 + 2 }],
      [MAC(9), { first: t1 + 3, at: t1 + 3, facts: { arch: 'i386' } }],
    ]);
    await t.ok('write a batch', b.store.writeEvents(events, seen));
    await t.ok('write nothing', b.store.writeEvents([], new Map()));
    expect(await t.ok('seen known', b.store.getHost(MAC(1)))).toMatchObject({ firstSeen: t1, lastSeen: t1 + 5, facts: { arch: 'x86_64', platform: 'efi' } });
    expect(await t.ok('seen discovered', b.store.getHost(MAC(2)))).toMatchObject({ firstSeen: START, lastSeen: t1 + 2, facts: { manufacturer: 'QEMU', serial: 'SN2' } });
    expect(await t.ok('unknown MAC not added', b.store.getHost(MAC(9)))).toBeUndefined();
    // A later batch with empty facts keeps the stored ones; first seen stays.
    await t.ok('second batch', b.store.writeEvents([{ at: t1 + 50, mac: MAC(1), kind: 'file', request: '/hosts/x/ks.cfg', result: 'ks', status: 200 }], new Map([[MAC(1), { first: t1 + 50, at: t1 + 50, facts: {} }]])));
    expect(await t.ok('seen again', b.store.getHost(MAC(1)))).toMatchObject({ firstSeen: t1, lastSeen: t1 + 50, facts: { arch: 'x86_64', platform: 'efi' } });
    await t.ok('only last-seen', b.store.writeEvents([], new Map([[MAC(2), { first: t1 + 60, at: t1 + 60, facts: { manufacturer: 'Dell' } }]])));
    expect(await t.ok('facts replaced', b.store.getHost(MAC(2)))).toMatchObject({ lastSeen: t1 + 60, facts: { manufacturer: 'Dell' } });

    const all = await t.ok('all events', b.store.listEvents());
    expect(all.map((e) => [e.id, e.kind])).toEqual([
      [5, 'file'],
      [4, 'error'],
      [3, 'loader'],
      [2, 'entry'],
      [1, 'script'],
    ]);
    expect(all[4]).toEqual({ ...events[0], id: 1 });
    expect(all[3]!.detail).toBeNull();
    expect(all[2]).toMatchObject({ clientIp: null, status: 200, detail: {} });
    expect((await t.ok('by mac', b.store.listEvents({ mac: MAC(1) }))).map((e) => e.id)).toEqual([5, 1]);
    expect((await t.ok('by kinds', b.store.listEvents({ kinds: ['entry', 'error'] }))).map((e) => e.id)).toEqual([4, 2]);
    expect((await t.ok('no kinds = all', b.store.listEvents({ kinds: [] }))).length).toBe(5);
    expect((await t.ok('before', b.store.listEvents({ before: 3 }))).map((e) => e.id)).toEqual([2, 1]);
    expect((await t.ok('limit', b.store.listEvents({ limit: 2 }))).map((e) => e.id)).toEqual([5, 4]);
    expect((await t.ok('everything at once', b.store.listEvents({ mac: MAC(1), before: 5, kinds: ['script'], limit: 10 }))).map((e) => e.id)).toEqual([1]);
  });

  contract('import all-or-nothing, and host ids by MAC or label', async (b, t) => {
    await b.store.createProfile(P(debInput));
    await b.store.createProfile(P({ name: 'other', kind: 'local' }));
    await t.ok('host a', b.store.createHost({ mac: MAC(1), hostname: 'a', profile: 'deb', labels: ['lab', 'rack-1', 'lab'] }));
    await t.ok('host b', b.store.createHost({ mac: MAC(2), labels: ['rack-1'] }));
    b.clock.tick(1);
    const r = await t.ok(
      'import',
      b.store.importHosts([
        { line: 1, mac: MAC(1), profile: 'other', hostname: 'a1' },
        { line: 2, mac: MAC(4), profile: 'deb' },
        { line: 3, mac: MAC(5), profile: 'deb', hostname: 'e' },
        { line: 4, mac: MAC(4), profile: 'other', hostname: 'd' },
      ]),
    );
    expect(r).toEqual({ added: 2, updated: 2 });
    expect(await t.ok('imported', b.store.getHost(MAC(4)))).toMatchObject({ id: 3, profile: 'other', hostname: 'd', version: 2 });
    await t.fails(
      'import with a missing profile',
      b.store.importHosts([
        { line: 1, mac: MAC(6), profile: 'deb' },
        { line: 2, mac: MAC(1), profile: 'deb' },
        { line: 3, mac: MAC(7), profile: 'ghost' },
      ]),
      NotFoundError,
      'profile "ghost" does not exist',
    );
    expect(await t.ok('nothing of it applied', b.store.getHost(MAC(6)))).toBeUndefined();
    expect(await t.ok('nothing of it applied 2', b.store.getHost(MAC(1)))).toMatchObject({ profile: 'other' });
    // The rolled-back import used no ids: the next host gets the same id on both databases.
    expect(await t.ok('next host', b.store.createHost({ mac: MAC(8) }))).toMatchObject({ id: 5 });
    expect(await t.ok('by label (a label twice gives the host once)', b.store.hostIdsFor({ label: 'lab' }))).toEqual({ ids: [1], missing: [] });
    expect(await t.ok('by label 2', b.store.hostIdsFor({ label: 'rack-1' }))).toEqual({ ids: [1, 2], missing: [] });
    expect(await t.ok('by unknown label', b.store.hostIdsFor({ label: 'nope' }))).toEqual({ ids: [], missing: [] });
    expect(await t.ok('by MACs', b.store.hostIdsFor({ macs: [MAC(4), MAC(9), MAC(1), MAC(4)] }))).toEqual({ ids: [3, 1], missing: [MAC(9)] });
    expect(await t.ok('by no MACs', b.store.hostIdsFor({}))).toEqual({ ids: [], missing: [] });
  });
});

describe('store contract: templates and settings', () => {
  contract('template versions, newest first; saved names in byte order; settings', async (b, t) => {
    expect(await t.ok('no template', b.store.latestTemplate('kickstart/rhel.cfg'))).toBeUndefined();
    const v1 = await t.ok('save v1', b.store.saveTemplate('kickstart/rhel.cfg', '# one <%= it.host.hostname %>\n', 'first'));
    expect(v1).toEqual({ id: 1, name: 'kickstart/rhel.cfg', version: 1, body: '# one <%= it.host.hostname %>\n', comment: 'first', createdAt: START });
    b.clock.tick(60_000);
    await t.ok('save v2', b.store.saveTemplate('kickstart/rhel.cfg', '# two ✓\r\n'));
    await t.ok('save other', b.store.saveTemplate('ipxe/linux.ipxe', '#!ipxe\n'));
    await t.ok('save Upper', b.store.saveTemplate('Winpe/x.bat', 'echo\n'));
    b.clock.tick(1);
    await t.ok('save v3', b.store.saveTemplate('kickstart/rhel.cfg', '# three\n', 'third'));
    expect(await t.ok('latest', b.store.latestTemplate('kickstart/rhel.cfg'))).toMatchObject({ version: 3, body: '# three\n', comment: 'third' });
    expect(await t.ok('versions', b.store.templateVersions('kickstart/rhel.cfg'))).toEqual([
      { id: 5, name: 'kickstart/rhel.cfg', version: 3, comment: 'third', createdAt: START + 60_001 },
      { id: 2, name: 'kickstart/rhel.cfg', version: 2, comment: '', createdAt: START + 60_000 },
      { id: 1, name: 'kickstart/rhel.cfg', version: 1, comment: 'first', createdAt: START },
    ]);
    expect(await t.ok('no versions', b.store.templateVersions('nope'))).toEqual([]);
    expect(await t.ok('version 2', b.store.templateVersion('kickstart/rhel.cfg', 2))).toMatchObject({ body: '# two ✓\r\n' });
    expect(await t.ok('version 9', b.store.templateVersion('kickstart/rhel.cfg', 9))).toBeUndefined();
    expect(await t.ok('saved names', b.store.savedTemplateNames())).toEqual([
      { name: 'Winpe/x.bat', version: 1, updatedAt: START + 60_000 },
      { name: 'ipxe/linux.ipxe', version: 1, updatedAt: START + 60_000 },
      { name: 'kickstart/rhel.cfg', version: 3, updatedAt: START + 60_001 },
    ]);

    expect(await t.ok('no setting', b.store.getSetting('task_token_key'))).toBeUndefined();
    await t.ok('set', b.store.setSetting('task_token_key', 'k1'));
    await t.ok('set other', b.store.setSetting('admin_token_hash', 'h'));
    await t.ok('overwrite', b.store.setSetting('task_token_key', 'k2 — ✓'));
    expect(await t.ok('get', b.store.getSetting('task_token_key'))).toBe('k2 — ✓');
    expect(await t.ok('get other', b.store.getSetting('admin_token_hash'))).toBe('h');
  });
});

describe('store contract: sites', () => {
  contract('create with every field, refusals, list in byte order, replace by version and rename, remove', async (b, t) => {
    await b.store.createProfile(P(debInput));
    const branch = parseSiteInput({
      name: 'branch-1',
      description: 'Zürich office',
      subnets: ['10.20.0.0/16', '10.21.0.0/24'],
      relays: ['10.20.0.1'],
      assetBaseUrl: 'http://10.20.0.5:8081/assets/',
      bootBaseUrl: 'http://203.0.113.10:8080',
      loaders: { efi64: 'snponly.efi', bios: 'undionly.kpxe' },
      defaultProfile: 'deb',
      menuDisplay: 'onkey',
    });
    const s1 = await t.ok('create', b.sites.create(branch));
    expect(s1).toEqual({ id: 1, ...branch, assetBaseUrl: 'http://10.20.0.5:8081/assets', version: 1, createdAt: START, updatedAt: START });
    await t.fails('create again', b.sites.create(branch), ConflictError, 'site "branch-1" already exists');
    await t.fails(
      'claims taken relay and subnet, and a missing profile',
      b.sites.create(parseSiteInput({ name: 'b2', subnets: ['10.21.0.0/24'], relays: ['10.20.0.1'], defaultProfile: 'ghost' })),
      InvalidInputError,
      'site b2: relay 10.20.0.1 already belongs to site "branch-1"; subnet 10.21.0.0/24 already belongs to site "branch-1"; defaultProfile: profile "ghost" does not exist',
    );
    await t.ok('create Alpha', b.sites.create(parseSiteInput({ name: 'Alpha', subnets: ['192.168.7.0/24'], defaultProfile: '-' })));
    await t.ok('create lab', b.sites.create(parseSiteInput({ name: 'lab', defaultProfile: 'deb' })));
    expect((await t.ok('list', b.sites.list())).map((s) => s.name)).toEqual(['Alpha', 'branch-1', 'lab']);
    expect(await t.ok('get', b.sites.get('branch-1'))).toEqual(s1);
    expect(await t.ok('get missing', b.sites.get('nope'))).toBeUndefined();
    expect(await t.ok('using deb', b.sites.usingProfile('deb'))).toEqual(['branch-1', 'lab']);

    b.clock.tick(2000);
    await t.fails('replace from a stale version', b.sites.replace('branch-1', branch, 0), ConflictError, 'site "branch-1" was changed meanwhile (now version 1, you had 0): reload and apply your change again');
    const renamed = await t.ok('replace with rename', b.sites.replace('branch-1', { ...branch, name: 'branch-2', relays: [], loaders: {} }, 1));
    expect(renamed).toMatchObject({ id: 1, name: 'branch-2', relays: [], loaders: {}, version: 2, createdAt: START, updatedAt: START + 2000 });
    await t.fails('rename onto another', b.sites.replace('branch-2', { ...branch, name: 'lab' }), ConflictError, 'site "lab" already exists');
    await t.fails('replace missing', b.sites.replace('branch-1', branch), NotFoundError, 'site "branch-1" does not exist');
    await t.fails('replace claiming another site’s subnet', b.sites.replace('lab', parseSiteInput({ name: 'lab', subnets: ['192.168.7.0/24'] })), InvalidInputError, 'site lab: subnet 192.168.7.0/24 already belongs to site "Alpha"');
    await t.ok('remove', b.sites.remove('Alpha'));
    await t.fails('remove again', b.sites.remove('Alpha'), NotFoundError, 'site "Alpha" does not exist');
    expect((await t.ok('list after', b.sites.list())).map((s) => [s.name, s.version])).toEqual([
      ['branch-2', 2],
      ['lab', 1],
    ]);
  });
});

describe('store contract: tasks', () => {
  async function setup(b: Backend) {
    const wipe = await b.store.createProfile(P({ name: 'wipe', kind: 'chain', url: 'http://10.9.9.9/wipe.ipxe' }));
    const capture = await b.store.createProfile(P({ name: 'capture', kind: 'chain', url: 'http://10.9.9.9/capture.ipxe' }));
    const hosts = [];
    for (const n of [1, 2, 3]) hosts.push(await b.store.createHost({ mac: MAC(n), hostname: `node${n}` }));
    return { wipe, capture, h: hosts.map((h) => h.id) as [number, number, number] };
  }

  contract('create, boot, report, retry, cancel, through the whole state machine', async (b, t) => {
    const { wipe, capture, h } = await setup(b);
    const created = await t.ok('assign two hosts', b.tasks.create({ hostIds: [h[0], h[1]], profileId: wipe.id, comment: 'reinstall' }));
    expect(created.map((x) => [x.id, x.hostId, x.state, x.version, x.attempt, x.createdAt])).toEqual([
      [1, h[0], 'pending', 1, 1, START],
      [2, h[1], 'pending', 1, 1, START],
    ]);
    expect(created[0]!.batch).toBe(created[1]!.batch);
    await t.fails('assign a busy host', b.tasks.create({ hostIds: [h[1], h[2]], profileId: capture.id }), ConflictError, `1 host(s) already have an open task (${MAC(2)}); cancel it or assign with replace`);
    const single = await t.ok('assign one, later', b.tasks.create({ hostIds: [h[2]], profileId: capture.id, notBefore: START + 10_000, expiresAt: START + 20_000, onFailure: 'retry', maxRetries: 2 }));
    expect(single[0]).toMatchObject({ id: 3, batch: null, notBefore: START + 10_000, expiresAt: START + 20_000 });
    expect(await t.ok('not yet active', b.tasks.activeForHost(h[2]))).toBeUndefined();
    expect(await t.ok('but open', b.tasks.openForHost(h[2]))).toMatchObject({ id: 3 });
    expect(await t.ok('no task for nobody', b.tasks.activeForHost(999))).toBeUndefined();

    const t1 = (await t.ok('active', b.tasks.activeForHost(h[0])))!;
    expect(t1).toMatchObject({ id: 1, state: 'pending' });
    const token = await b.tasks.tokenFor(t1);
    t.note('token shape', token.length);
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(await t.ok('token checks', b.tasks.checkToken(t1, token))).toBe(true);
    expect(await t.ok('wrong token', b.tasks.checkToken(t1, token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')))).toBe(false);
    expect(await t.ok('token of another task', b.tasks.checkToken(created[1]!, token))).toBe(false);

    b.clock.tick(1000);
    expect(await t.ok('served', b.tasks.served(t1))).toMatchObject({ state: 'served', version: 2, servedAt: START + 1000 });
    b.clock.tick(1000);
    expect(await t.ok('served again (reboot)', b.tasks.served(t1))).toMatchObject({ state: 'served', version: 3, servedAt: START + 2000 });
    b.clock.tick(1000);
    expect(await t.ok('progress', b.tasks.report(1, 'progress', 'copying 40%'))).toMatchObject({ state: 'running', startedAt: START + 3000, message: 'copying 40%' });
    b.clock.tick(1000);
    expect(await t.ok('running', b.tasks.report(1, 'running', ''))).toMatchObject({ state: 'running', startedAt: START + 3000, message: 'copying 40%', version: 5 });
    expect(await t.ok('running tasks boot locally but are active', b.tasks.activeForHost(h[0]))).toMatchObject({ id: 1, state: 'running' });
    expect(await t.ok('done', b.tasks.report(1, 'done', 'installed'))).toMatchObject({ state: 'done', finishedAt: START + 4000, message: 'installed' });
    await t.fails('done twice', b.tasks.report(1, 'done', ''), ConflictError, 'task 1 is done; it cannot become done');
    expect(await t.ok('nothing active after done', b.tasks.activeForHost(h[0]))).toBeUndefined();

    const replaced = await t.ok('assign with replace', b.tasks.create({ hostIds: [h[1]], profileId: capture.id, replace: true, onFailure: 'retry', maxRetries: 1 }));
    expect(replaced[0]).toMatchObject({ id: 4, state: 'pending' });
    expect(await t.ok('replaced one cancelled', b.tasks.get(2))).toMatchObject({ state: 'cancelled', message: 'replaced by a new task', finishedAt: START + 4000 });
    await t.ok('serve 4', b.tasks.served(replaced[0]!));
    expect(await t.ok('fail with retry', b.tasks.report(4, 'failed', 'disk not found'))).toMatchObject({ state: 'pending', attempt: 2, message: 'retry: attempt 2 of 2', finishedAt: START + 4000 });
    await t.ok('serve 4 again', b.tasks.served((await b.tasks.get(4))!));
    expect(await t.ok('fail for good', b.tasks.report(4, 'failed', 'again'))).toMatchObject({ state: 'failed', attempt: 2, message: 'again' });
    await t.fails('cancel a failed task', b.tasks.cancel(4), ConflictError, 'task 4 is failed; it cannot become cancelled');
    await t.fails('report on a failed task', b.tasks.report(4, 'running', ''), ConflictError, 'task 4 is failed; it cannot become running');

    const [t5] = await t.ok('assign again', b.tasks.create({ hostIds: [h[0]], profileId: wipe.id }));
    await t.fails('cancel from a stale version', b.tasks.cancel(t5!.id, 7), ConflictError, 'task 5 was changed meanwhile (now version 1, you had 7): reload and try again');
    expect(await t.ok('cancel', b.tasks.cancel(t5!.id, 1))).toMatchObject({ state: 'cancelled', message: 'cancelled by an admin', version: 2 });
    await t.fails('get missing', b.tasks.get(999), NotFoundError, 'task 999 does not exist');
    await t.fails('view missing', b.tasks.view(999), NotFoundError, 'task 999 does not exist');
    await t.fails('report on missing', b.tasks.report(999, 'done', ''), NotFoundError, 'task 999 does not exist');
    await t.fails('cancel missing', b.tasks.cancel(999), NotFoundError, 'task 999 does not exist');
    await t.fails('serve missing', b.tasks.served({ ...t1, id: 999 }), NotFoundError, 'task 999 does not exist');

    expect(await t.ok('view', b.tasks.view(1))).toMatchObject({ id: 1, mac: MAC(1), hostname: 'node1', profile: 'wipe', state: 'done' });
    expect(await t.ok('view has no nonce', b.tasks.view(1))).not.toHaveProperty('nonce');
    expect((await t.ok('history', b.tasks.history(1))).map((e) => [e.fromState, e.toState, e.actor, e.message])).toEqual([
      [null, 'pending', 'admin', 'reinstall'],
      ['pending', 'served', 'boot', ''],
      ['served', 'served', 'boot', ''],
      ['served', 'running', 'callback', 'copying 40%'],
      ['running', 'running', 'callback', ''],
      ['running', 'done', 'callback', 'installed'],
    ]);
    expect((await t.ok('history of 4', b.tasks.history(4))).map((e) => `${e.toState}:${e.actor}:${e.message}`)).toEqual([
      'pending:admin:',
      'served:boot:',
      'failed:callback:disk not found',
      'pending:sweeper:retry: attempt 2 of 2',
      'served:boot:',
      'failed:callback:again',
    ]);
    expect(await t.ok('no history', b.tasks.history(999))).toEqual([]);
    const timeline = await t.ok('host timeline', b.tasks.historyForHost(h[0]));
    expect(timeline.map((e) => [e.taskId, e.toState, e.profile])).toEqual([
      [5, 'cancelled', 'wipe'],
      [5, 'pending', 'wipe'],
      [1, 'done', 'wipe'],
      [1, 'running', 'wipe'],
      [1, 'running', 'wipe'],
      [1, 'served', 'wipe'],
      [1, 'served', 'wipe'],
      [1, 'pending', 'wipe'],
    ]);
    expect((await t.ok('host timeline, limited', b.tasks.historyForHost(h[0], 2))).length).toBe(2);
  });

  contract('a host whose label is given twice gets one task', async (b, t) => {
    const { wipe } = await setup(b);
    await t.ok('label twice', b.store.updateHost(MAC(1), { labels: ['lab', 'lab'] }));
    const { ids } = await t.ok('ids', b.store.hostIdsFor({ label: 'lab' }));
    await t.ok('assign', b.tasks.create({ hostIds: ids, profileId: wipe.id }));
    await t.ok('assign with replace', b.tasks.create({ hostIds: ids, profileId: wipe.id, replace: true }));
    const states = (await t.ok('tasks', b.tasks.list())).tasks.map((x) => [x.id, x.state]);
    expect(states).toEqual([
      [2, 'pending'],
      [1, 'cancelled'],
    ]);
  });

  contract('sweep: unserved past expiry, served without check-in, running past the run timeout', async (b, t) => {
    const { wipe, h } = await setup(b);
    const limits = { checkinTimeoutMs: 60_000, runTimeoutMs: 3_600_000 };
    const [a] = await t.ok('expiring', b.tasks.create({ hostIds: [h[0]], profileId: wipe.id, expiresAt: START + 30_000 }));
    const [s] = await t.ok('to be served', b.tasks.create({ hostIds: [h[1]], profileId: wipe.id }));
    const [r] = await t.ok('to run', b.tasks.create({ hostIds: [h[2]], profileId: wipe.id }));
    await t.ok('serve', b.tasks.served(s!));
    await t.ok('serve r', b.tasks.served(r!));
    b.clock.tick(10_000);
    await t.ok('start r', b.tasks.report(r!.id, 'running', 'started'));
    expect(await t.ok('nothing due', b.tasks.sweep(limits))).toEqual([]);
    b.clock.tick(20_000);
    expect(await t.ok('expired is not active before the sweep', b.tasks.activeForHost(h[0]))).toBeUndefined();
    expect((await t.ok('unserved expires', b.tasks.sweep(limits))).map((x) => [x.id, x.state, x.message])).toEqual([[a!.id, 'expired', 'not served before its expiry']]);
    b.clock.tick(29_999);
    expect(await t.ok('check-in not yet overdue', b.tasks.sweep(limits))).toEqual([]);
    b.clock.tick(1);
    expect((await t.ok('served expires', b.tasks.sweep(limits))).map((x) => [x.id, x.state, x.message, x.finishedAt])).toEqual([[s!.id, 'expired', 'served but never checked in within 60 s', START + 60_000]]);
    b.clock.tick(3_600_000);
    expect((await t.ok('running expires', b.tasks.sweep(limits))).map((x) => [x.id, x.message])).toEqual([[r!.id, 'running but not finished within 3600 s']]);
    expect(await t.ok('nothing left', b.tasks.sweep(limits))).toEqual([]);
    expect((await t.ok('history', b.tasks.history(s!.id))).map((e) => [e.toState, e.actor])).toEqual([
      ['pending', 'admin'],
      ['served', 'boot'],
      ['expired', 'sweeper'],
    ]);
  });

  contract('list with filters and paging; deleting a host takes its tasks along', async (b, t) => {
    const { wipe, capture, h } = await setup(b);
    const batch = await t.ok('batch of three', b.tasks.create({ hostIds: h, profileId: wipe.id }));
    await t.ok('cancel one', b.tasks.cancel(batch[1]!.id));
    await t.ok('one more', b.tasks.create({ hostIds: [h[1]], profileId: capture.id, comment: 'capture' }));
    const all = await t.ok('all', b.tasks.list());
    expect(all.total).toBe(4);
    expect(all.tasks.map((x) => [x.id, x.mac, x.profile, x.state])).toEqual([
      [4, MAC(2), 'capture', 'pending'],
      [3, MAC(3), 'wipe', 'pending'],
      [2, MAC(2), 'wipe', 'cancelled'],
      [1, MAC(1), 'wipe', 'pending'],
    ]);
    expect(all.tasks[0]).not.toHaveProperty('nonce');
    expect((await t.ok('by state', b.tasks.list({ states: ['cancelled'] }))).tasks.map((x) => x.id)).toEqual([2]);
    expect((await t.ok('by states', b.tasks.list({ states: ['pending', 'cancelled'], hostId: h[1] }))).tasks.map((x) => x.id)).toEqual([4, 2]);
    expect(await t.ok('by batch', b.tasks.list({ batch: batch[0]!.batch! }))).toMatchObject({ total: 3 });
    expect(await t.ok('by unknown batch', b.tasks.list({ batch: 'ffffffffffff' }))).toEqual({ total: 0, tasks: [] });
    const page = await t.ok('page', b.tasks.list({ limit: 2, offset: 1 }));
    expect([page.total, page.tasks.map((x) => x.id)]).toEqual([4, [3, 2]]);
    await t.ok('delete host 2', b.store.deleteHost(MAC(2)));
    expect((await t.ok('its tasks are gone', b.tasks.list())).tasks.map((x) => x.id)).toEqual([3, 1]);
    expect(await t.ok('and their history', b.tasks.history(4))).toEqual([]);
  });

  contract('claim: one winner per version read; a stale, running or final task is not claimed', async (b, t) => {
    const { wipe, h } = await setup(b);
    await b.tasks.create({ hostIds: [h[0]], profileId: wipe.id });
    const read = (await t.ok('read', b.tasks.activeForHost(h[0])))!;
    b.clock.tick(500);
    const won = await t.ok('claim', b.tasks.claim(read));
    expect(won).toMatchObject({ id: 1, state: 'served', version: 2, servedAt: START + 500, updatedAt: START + 500 });
    expect(await t.ok('claim what was read before', b.tasks.claim(read))).toBeUndefined();
    const again = (await t.ok('read again', b.tasks.activeForHost(h[0])))!;
    expect(await t.ok('re-serve after a reboot', b.tasks.claim(again))).toMatchObject({ state: 'served', version: 3 });
    const running = await t.ok('running', b.tasks.report(1, 'running', ''));
    expect(await t.ok('claim a running task', b.tasks.claim(running))).toBeUndefined();
    const cancelled = await t.ok('cancel', b.tasks.cancel(1));
    expect(await t.ok('claim a cancelled task', b.tasks.claim(cancelled))).toBeUndefined();
    expect((await t.ok('history', b.tasks.history(1))).map((e) => `${e.fromState}>${e.toState}:${e.actor}`)).toEqual(['null>pending:admin', 'pending>served:boot', 'served>served:boot', 'served>running:callback', 'running>cancelled:admin']);
  });
});

describe('where the backends differ on purpose', () => {
  it('batches committed out of time order (two nodes): PostgreSQL keeps the newest last-seen time and facts, SQLite takes the last commit', async () => {
    if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
    const got: Record<string, unknown> = {};
    for (const b of [openSqliteBackend(), await openPgBackend(cluster)]) {
      try {
        await b.store.createHost({ mac: MAC(1) });
        await b.store.writeEvents([], new Map([[MAC(1), { first: START + 2000, at: START + 3000, facts: { by: 'newer' } }]]));
        await b.store.writeEvents([], new Map([[MAC(1), { first: START + 1000, at: START + 1500, facts: { by: 'older' } }]]));
        const h = await b.store.getHost(MAC(1));
        got[b.name] = { firstSeen: h?.firstSeen, lastSeen: h?.lastSeen, facts: h?.facts };
      } finally {
        await b.close();
      }
    }
    expect(got).toEqual({
      sqlite: { firstSeen: START + 2000, lastSeen: START + 1500, facts: { by: 'older' } },
      postgres: { firstSeen: START + 1000, lastSeen: START + 3000, facts: { by: 'newer' } },
    });
  });

  it('jsonb keeps every key and value but not the order keys were written in (shorter keys first): compare objects by value', async () => {
    if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
    const order: Record<string, string[]> = {};
    for (const b of [openSqliteBackend(), await openPgBackend(cluster)]) {
      try {
        const h = await b.store.createHost({ mac: MAC(1), variables: { zone: 'b', disk: '/dev/sda', a: '1' } });
        expect(h.variables, b.name).toEqual({ a: '1', disk: '/dev/sda', zone: 'b' });
        order[b.name] = Object.keys((await b.store.getHostRow(MAC(1)))!.variables);
      } finally {
        await b.close();
      }
    }
    expect(order).toEqual({ sqlite: ['zone', 'disk', 'a'], postgres: ['a', 'disk', 'zone'] });
  });

  it('a profile a task refers to cannot be deleted, and both say why', async () => {
    if (!cluster) throw new Error(`PostgreSQL cannot run here: ${pgProblem() ?? 'the cluster did not start'}`);
    for (const b of [openSqliteBackend(), await openPgBackend(cluster)]) {
      try {
        const p = await b.store.createProfile(P({ name: 'wipe', kind: 'local' }));
        const host = await b.store.createHost({ mac: MAC(1) });
        const [task] = await b.tasks.create({ hostIds: [host.id], profileId: p.id });
        await b.tasks.cancel(task!.id);
        const err = await b.store.deleteProfile('wipe').then(
          () => null,
          (e: Error) => e,
        );
        expect(err, b.name).not.toBeNull();
        expect(err, b.name).toEqual(new ConflictError('profile "wipe" is the profile of 1 task(s) (their history refers to it)'));
        expect(await b.store.getProfile('wipe'), b.name).toBeDefined();
      } finally {
        await b.close();
      }
    }
  });
});

/**
 * `chainboot db copy` between SQLite and a real PostgreSQL (a throwaway
 * cluster on a Unix socket, test/helpers/postgres.ts): every row arrives,
 * values keep their meaning (JSON, booleans, 64-bit times, unicode), ids are
 * kept and PostgreSQL continues after them, a non-empty target is refused, a
 * failing copy leaves the target empty, and the way back gives the same data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTableColumns, getTableName } from 'drizzle-orm';
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { copyDatabase, TABLES } from '../../src/db/copy.js';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import * as sqliteSchema from '../../src/db/schema.js';
import { PG_TABLES } from '../../src/db/pg/schema.js';
import { pgQuery, startPostgres, type PgCluster } from '../helpers/postgres.js';

let cluster: PgCluster;
let tmp: string;
let source: string;


beforeAll(async () => {
  cluster = startPostgres();
  tmp = mkdtempSync(join(tmpdir(), 'chainboot-copy-'));
  const dataDir = join(tmp, 'data');
  source = join(dataDir, 'chainboot.db');
  // A deployment with a bit of everything, made through the service itself.
  const cfg = loadConfig({ argv: ['--data-dir', dataDir, '--admin-token', 'copy-test-token-0123456789abcdef', '--asset-root', '/nonexistent', '--loader-root', '/nonexistent'] });
  const s = await buildServices(cfg, silentLogger, { eventIntervalMs: 10_000 });
  await s.admin.addProfile({ name: 'deb', kind: 'linux', kernel: 'deb/linux', initrds: ['deb/initrd.gz'], cmdline: 'quiet ks=<%= it.urls.file("ks.cfg") %>', variables: { tz: 'Europe/Zürich' }, secrets: { rootpw: { value: 'pä$$"\'w0rd', always: false } } });
  await s.admin.addProfile({ name: 'menu1', kind: 'menu', entries: ['deb'], title: 'Menü ✓' });
  await s.admin.addHost({ mac: '52:54:00:00:00:01', hostname: 'web01', profile: 'deb', variables: { disk: '/dev/sda' }, labels: ['rack-1', 'lab'] });
  await s.admin.addHost({ mac: '52:54:00:00:00:02', dhcpMode: 'ignore', notes: 'line one — two' });
  await s.admin.saveTemplate('kickstart/rhel.cfg', '# custom <%= it.host.hostname %>\n', 'first');
  await s.admin.saveTemplate('kickstart/rhel.cfg', '# custom v2 <%= it.host.hostname %>\n', 'second');
  await s.sites.admin.add({ name: 'branch', subnets: ['10.20.0.0/16'], relays: ['10.20.0.1'], loaders: { efi64: 'snponly.efi' }, defaultProfile: 'deb' });
  await s.admin.assignTasks({ profile: 'deb', mac: '52:54:00:00:00:01', comment: 'reinstall' });
  // A discovered host and boot events (JSON details, a null MAC), written by the service's own paths.
  await s.boot.script({ mac: '52:54:00:00:00:03', client: { manufacturer: 'QEMU' }, clientIp: '10.20.1.3', record: true });
  await s.boot.entry('10.20.1.3');
  await s.events.close();
  await s.backend.close();
});

afterAll(() => {
  cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the PostgreSQL schema', () => {
  it('has the SQLite schema’s tables and columns, with the same names and nullability', () => {
    const sqliteTables = [sqliteSchema.profiles, sqliteSchema.hosts, sqliteSchema.templates, sqliteSchema.sites, sqliteSchema.settings, sqliteSchema.tasks, sqliteSchema.taskEvents, sqliteSchema.bootEvents];
    expect(Object.values(PG_TABLES).map(getTableName)).toEqual(sqliteTables.map(getTableName));
    for (const [i, t] of Object.values(PG_TABLES).entries()) {
      const shape = (cols: Record<string, { name: string; notNull: boolean; primary: boolean }>) =>
        Object.values(cols)
          .map((c) => `${c.name}${c.notNull ? ' not null' : ''}${c.primary ? ' pk' : ''}`)
          .sort();
      expect(shape(getTableColumns(t)), getTableName(t)).toEqual(shape(getTableColumns(sqliteTables[i]!)));
    }
  });
});

describe('chainboot db copy', () => {
  it('moves every row from SQLite to PostgreSQL, verified, and PostgreSQL continues after the copied ids', async () => {
    const url = await cluster.createDatabase('copy1');
    const lines: string[] = [];
    const report = await copyDatabase(`sqlite:${source}`, url, { log: (l) => lines.push(l) });
    const counts = Object.fromEntries(report.tables.map((t) => [t.table, t.rows]));
    const src = openDb(source).$client;
    for (const t of TABLES) expect(counts[t.name], t.name).toBe((src.prepare(`SELECT count(*) AS n FROM "${t.name}"`).get() as { n: number }).n);
    src.close();
    expect(counts).toMatchObject({ profiles: 2, hosts: 3, templates: 2, sites: 1, tasks: 1 });
    expect(counts.boot_events).toBeGreaterThanOrEqual(2);
    expect(counts.task_events).toBeGreaterThanOrEqual(1);
    expect(lines).toContain('hosts: 3 row(s)');

    const hosts = await pgQuery<{ mac: string; discovered: boolean; labels: string[]; first_seen: string | null }>(url, 'SELECT mac, discovered, labels, first_seen FROM hosts ORDER BY id');
    expect(hosts.map((h) => [h.mac, h.discovered])).toEqual([
      ['52:54:00:00:00:01', false],
      ['52:54:00:00:00:02', false],
      ['52:54:00:00:00:03', true],
    ]);
    expect(hosts[0]!.labels).toEqual(['rack-1', 'lab']);
    const [p] = await pgQuery<{ variables: Record<string, string>; secrets: Record<string, { value: string }> }>(url, "SELECT variables, secrets FROM profiles WHERE name = 'deb'");
    expect(p!.variables.tz).toBe('Europe/Zürich');
    expect(p!.secrets.rootpw!.value).toBe('pä$$"\'w0rd');
    const [ev] = await pgQuery<{ detail: { site?: string } }>(url, "SELECT detail FROM boot_events WHERE kind = 'script'");
    expect(ev!.detail.site).toBe('branch');

    const [next] = await pgQuery<{ id: number }>(url, "INSERT INTO hosts (mac, created_at, updated_at) VALUES ('52:54:00:00:00:09', 1, 1) RETURNING id");
    expect(next!.id).toBe(4);
  });

  it('refuses a target that already holds rows, and changes nothing there', async () => {
    const url = await cluster.createDatabase('copy2');
    await copyDatabase(`sqlite:${source}`, url);
    const before = await pgQuery<{ n: string }>(url, 'SELECT count(*) AS n FROM boot_events');
    await expect(copyDatabase(`sqlite:${source}`, url)).rejects.toThrow(/is not empty \(.*hosts.*\)/);
    expect(await pgQuery<{ n: string }>(url, 'SELECT count(*) AS n FROM boot_events')).toEqual(before);
  });

  it('leaves the target empty when a row cannot be written', async () => {
    const bad = join(tmp, 'bad.db');
    await copyDatabase(`sqlite:${source}`, `sqlite:${bad}`);
    // A NUL character: SQLite keeps it, PostgreSQL's text cannot.
    const db = openDb(bad).$client;
    db.prepare("INSERT INTO boot_events (at, kind, request, result, status) VALUES (1, 'tftp', ?, 'x', 400)").run('boot\u0000.efi');
    db.close();
    const url = await cluster.createDatabase('copy3');
    await expect(copyDatabase(`sqlite:${bad}`, url)).rejects.toThrow();
    for (const t of TABLES) expect(await pgQuery<{ n: string }>(url, `SELECT count(*) AS n FROM "${t.name}"`), t.name).toEqual([{ n: '0' }]);
  });

  it('comes back from PostgreSQL to a new SQLite file with the same hosts, profiles, templates, sites and tasks', async () => {
    const url = await cluster.createDatabase('copy4');
    await copyDatabase(`sqlite:${source}`, url);
    const back = join(tmp, 'back.db');
    const report = await copyDatabase(url, `sqlite:${back}`);
    expect(report.rows).toBeGreaterThan(10);
    const a = createStore(openDb(source));
    const b = createStore(openDb(back));
    expect(b.listHosts({ limit: 100 })).toEqual(a.listHosts({ limit: 100 }));
    expect(b.listProfiles()).toEqual(a.listProfiles());
    expect(b.templateVersions('kickstart/rhel.cfg')).toEqual(a.templateVersions('kickstart/rhel.cfg'));
    expect(b.listEvents({ limit: 100 })).toEqual(a.listEvents({ limit: 100 }));
    expect(b.getSetting('task_token_key')).toBe(a.getSetting('task_token_key'));
  });

  it('refuses the same database as source and target, and a missing SQLite source', async () => {
    await expect(copyDatabase(`sqlite:${source}`, `sqlite:${source}`)).rejects.toThrow('name the same database');
    await expect(copyDatabase(`sqlite:${join(tmp, 'missing.db')}`, `sqlite:${join(tmp, 'x.db')}`)).rejects.toThrow('does not exist');
  });
});

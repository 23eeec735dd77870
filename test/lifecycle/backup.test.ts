/**
 * `chainboot backup` while serve runs under write load, and `chainboot
 * restore` into a fresh data directory: the restored rows are the backup's,
 * and the backup is one consistent moment of the live database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireBuilt, run } from '../helpers/process.js';
import { backupDatabase, inspectDatabase, knownMigrations, restoreDatabase, runningServer, writePidFile } from '../../src/db/backup.js';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { signal, startServer } from './helpers.js';

const TOKEN = 'lifecycle-test-token-0123456789';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainboot-backup-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (dataDir: string, ...args: string[]) => run(process.execPath, [CLI, ...args, '--data-dir', dataDir]);

/** Every row of every table, in id (rowid) order: two databases with equal dumps hold the same data. */
function dump(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
}

const ids = (rows: unknown[]) => rows.map((r) => (r as { id: number }).id);
const mac = (i: number) => `52:54:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

describe('backup and restore with the real CLI', () => {
  it('backs up under write load; restores into a fresh data dir with equal rows; refuses while serve runs', async () => {
    requireBuilt();
    const s = await startServer(['--admin-token', TOKEN], { tftp: false });
    const backupFile = join(dir, 'snapshot.db');
    try {
      // Writers: hosts through the API (main connection) and boots (events, written by the worker thread).
      let added = 0;
      let stop = false;
      const failures: string[] = [];
      const writer = async (w: number) => {
        for (let i = w; !stop; i += 4) {
          const r = await fetch(`${s.baseUrl}/api/v1/hosts`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ mac: mac(i), hostname: `h${i}` }) });
          if (r.status !== 201) failures.push(`${r.status} ${await r.text()}`);
          else added++;
          wake();
          const b = await fetch(`${s.baseUrl}/ipxe?mac=${mac(i)}`);
          await b.arrayBuffer();
        }
      };
      const load = Promise.all([0, 1, 2, 3].map(writer));
      // Waits for the writers (each add wakes it), without spinning.
      let wake: () => void = () => {};
      const until = async (pred: () => boolean) => {
        while (!pred()) await new Promise<void>((r) => (wake = r));
      };
      await until(() => added >= 200 || failures.length > 0);

      const b = await cli(s.dataDir, 'backup', backupFile);
      expect(b.stderr).toBe('');
      expect(b.code).toBe(0);
      expect(b.stdout).toMatch(/^backed up .*chainboot\.db to .*snapshot\.db: \d+ bytes, migration \d+_\w+, in \d+ ms\n {2}boot_events \d+, hosts \d+/);
      const atBackup = added;
      await until(() => added >= atBackup + 100 || failures.length > 0);

      // The server holds the data dir: restore refuses, and changes nothing.
      const refused = await cli(s.dataDir, 'restore', backupFile);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`chainboot serve (pid ${s.proc.pid}) is using ${s.dataDir}: stop it first`);
      // Refused over an existing file unless --force.
      const again = await cli(s.dataDir, 'backup', backupFile);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('exists; choose another name or add --force');

      stop = true;
      await load;
      expect(failures).toEqual([]);
      signal(s, 'SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      if (s.proc.exitCode === null) {
        signal(s, 'SIGKILL');
        await s.exited;
      }
    }

    // One consistent moment: hosts and events are each a prefix of what the live database ended with.
    const snap = dump(backupFile);
    const live = dump(join(s.dataDir, 'chainboot.db'));
    const snapHosts = ids(snap.hosts!);
    expect(snapHosts.length).toBeGreaterThanOrEqual(200);
    expect(snapHosts.length).toBeLessThan(live.hosts!.length);
    expect(snapHosts).toEqual(ids(live.hosts!).slice(0, snapHosts.length));
    expect(snap.boot_events!.length).toBeGreaterThan(0);
    expect(snap.boot_events).toEqual(live.boot_events!.slice(0, snap.boot_events!.length));
    expect(snap.settings).toEqual(live.settings);
    // A self-contained file: no -wal beside it.
    expect(existsSync(`${backupFile}-wal`)).toBe(false);

    const fresh = join(dir, 'fresh');
    const r = await cli(fresh, 'restore', backupFile);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('there was no database before');
    expect(dump(join(fresh, 'chainboot.db'))).toEqual(snap);
    // The CLI reads the restored database.
    const list = await cli(fresh, 'hosts', 'list');
    expect(list.stdout.trim().split('\n')).toHaveLength(snapHosts.length);

    // Restoring over a database keeps the one replaced.
    const second = await cli(fresh, 'restore', join(s.dataDir, 'chainboot.db'));
    expect(second.code).toBe(0);
    const kept = readdirSync(fresh).filter((f) => f.startsWith('chainboot.db.before-restore-'));
    expect(kept).toHaveLength(1);
    expect(second.stdout).toContain(`the database it replaced is kept as ${join(fresh, kept[0]!)}`);
    expect(dump(join(fresh, kept[0]!))).toEqual(snap);
    expect(dump(join(fresh, 'chainboot.db'))).toEqual(live);
  });
});

describe('restore refuses what it cannot use', () => {
  it('a file that is not a database, a foreign SQLite database, and one from a newer chainboot', async () => {
    const target = join(dir, 'target');
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database at all, just some text that is long enough to have a header\n'.repeat(20));
    await expect(restoreDatabase(target, text)).rejects.toThrow(/not an SQLite database|cannot be opened/);

    const foreign = join(dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE things (id INTEGER PRIMARY KEY)');
    f.close();
    await expect(restoreDatabase(target, foreign)).rejects.toThrow('is not a chainboot database (no migration table)');

    const good = join(dir, 'good.db');
    const g = openDb(good);
    createStore(g).setSetting('marker', 'one');
    g.$client.close();
    const newer = join(dir, 'newer.db');
    copyFileSync(good, newer);
    const n = new Database(newer);
    n.prepare('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)').run('future', knownMigrations().at(-1)!.when + 1000);
    n.close();
    await expect(restoreDatabase(target, newer)).rejects.toThrow('was written by a newer chainboot');
    expect(existsSync(join(target, 'chainboot.db'))).toBe(false);

    // The good one goes in, and is verified at this build's level.
    const r = await restoreDatabase(target, good);
    expect(r.level).toEqual(knownMigrations().at(-1));
    expect(r.previous).toBeNull();
    const check = inspectDatabase(join(target, 'chainboot.db'));
    expect(check.ok && check.rows.settings).toBe(1);
  });

  it('a pid file only counts while it names a live chainboot serve', async () => {
    const d = join(dir, 'pids');
    // A crashed server's pid file (no such process), and a live process that is not a serve.
    const remove = writePidFile(d, 2 ** 22 + 12345);
    expect(runningServer(d)).toBeNull();
    remove();
    writePidFile(d, process.ppid);
    expect(runningServer(d)).toBeNull();
  });

  it('backup refuses a missing database and keeps an existing file without --force', async () => {
    await expect(backupDatabase(join(dir, 'none', 'chainboot.db'), join(dir, 'x.db'))).rejects.toThrow('no database at');
    const src = join(dir, 'src.db');
    openDb(src).$client.close();
    writeFileSync(join(dir, 'exists.db'), 'keep me');
    await expect(backupDatabase(src, join(dir, 'exists.db'))).rejects.toThrow('--force');
    const r = await backupDatabase(src, join(dir, 'exists.db'), { force: true });
    expect(r.rows.hosts).toBe(0);
  });
});

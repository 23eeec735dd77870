/**
 * Write transactions take the write lock at BEGIN. With a deferred one, a
 * second connection (the event writer's or retention's worker) committing
 * between its read and its write makes the write fail at once with
 * SQLITE_BUSY; the soak run saw that as 500s. Two real connections to one
 * database file.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, writeTx } from '../../src/db/client.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function pair() {
  const dir = mkdtempSync(join(tmpdir(), 'chainboot-tx-'));
  dirs.push(dir);
  const file = join(dir, 'chainboot.db');
  const db = openDb(file);
  db.$client.exec('CREATE TABLE t (n INTEGER)');
  const other = new Database(file, { timeout: 0 });
  return { db, other, close: () => (other.close(), db.$client.close()) };
}

describe('writeTx', () => {
  it('holds the write lock from its start: another connection cannot commit between its read and its write', () => {
    const { db, other, close } = pair();
    let otherWrite: unknown;
    writeTx(db, () => {
      db.$client.prepare('SELECT count(*) FROM t').get();
      try {
        other.prepare('INSERT INTO t VALUES (2)').run();
      } catch (e) {
        otherWrite = e;
      }
      db.$client.prepare('INSERT INTO t VALUES (1)').run();
    });
    expect((otherWrite as { code?: string }).code).toBe('SQLITE_BUSY');
    expect(db.$client.prepare('SELECT n FROM t').all()).toEqual([{ n: 1 }]);
    close();
  });

  it('(why) a deferred transaction fails at its write when another connection committed after its read', () => {
    const { db, other, close } = pair();
    expect(() =>
      db.transaction(() => {
        db.$client.prepare('SELECT count(*) FROM t').get();
        other.prepare('INSERT INTO t VALUES (2)').run();
        db.$client.prepare('INSERT INTO t VALUES (1)').run();
      }),
    ).toThrow(/database is locked|busy/i);
    close();
  });
});

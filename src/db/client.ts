import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as schema from './schema.js';
import { migrationsDir } from '../paths.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Opens (creating if needed) the SQLite database and applies the committed
 * migrations. ':memory:' gives a private database for tests, with the same
 * migrations as production.
 */
export function openDb(file: string, opts: { migrate?: boolean } = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  // WAL lets the HTTP handlers read while a batch of boot events is written;
  // NORMAL sync is durable across process crashes, which is what matters here.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema }) as Db;
  if (opts.migrate !== false) migrate(db, { migrationsFolder: migrationsDir });
  return db;
}

/**
 * A write transaction: BEGIN IMMEDIATE takes the write lock at the start, so
 * the busy timeout applies. A deferred transaction that reads and then writes
 * fails at once with SQLITE_BUSY when another connection (the event writer or
 * retention worker) committed after its read: the soak run saw renders, task
 * changes and template saves answered 500 "database is locked" that way.
 */
export function writeTx<T>(db: Db, fn: () => T): T {
  return db.transaction(fn, { behavior: 'immediate' });
}

/**
 * PostgreSQL connections (DATABASE_URL=postgres://…): a pool, drizzle over
 * it with the PostgreSQL schema, and the committed migrations in
 * migrations/pg applied on open.
 */
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { join } from 'node:path';
import * as schema from './schema.js';
import { migrationsDir } from '../../paths.js';
import { redactUrl } from '../url.js';

export { isPostgresUrl, redactUrl } from '../url.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

export const pgMigrationsDir = join(migrationsDir, 'pg');

/** The advisory lock (one bigint key) held while migrations are applied. */
const MIGRATION_LOCK = 0x6362_0000;

export async function openPg(url: string, opts: { migrate?: boolean; max?: number } = {}): Promise<PgDb> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // An idle client that errors (the server restarted) must not take the process down.
  pool.on('error', () => undefined);
  const db = drizzle(pool, { schema }) as PgDb;
  try {
    if (opts.migrate !== false) {
      // Nodes starting together would each apply the same migration; one at a time, the later ones find it applied.
      // The lock is held on a connection of its own: the migrator takes pool connections (a pool of one would wait for itself).
      const lock = new pg.Client({ connectionString: url });
      await lock.connect();
      try {
        await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
        await migrate(db, { migrationsFolder: pgMigrationsDir });
      } finally {
        await lock.end().catch(() => undefined);
      }
    }
  } catch (e) {
    await pool.end();
    throw new Error(`PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}`);
  }
  return db;
}

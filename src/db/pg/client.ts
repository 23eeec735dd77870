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

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

export const pgMigrationsDir = join(migrationsDir, 'pg');

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

export async function openPg(url: string, opts: { migrate?: boolean; max?: number } = {}): Promise<PgDb> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // An idle client that errors (the server restarted) must not take the process down.
  pool.on('error', () => undefined);
  const db = drizzle(pool, { schema }) as PgDb;
  try {
    if (opts.migrate !== false) await migrate(db, { migrationsFolder: pgMigrationsDir });
  } catch (e) {
    await pool.end();
    throw new Error(`PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}`);
  }
  return db;
}

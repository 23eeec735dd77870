/**
 * Databases of the PostgreSQL cluster the vitest project "postgres" starts
 * (test/helpers/pg-global.ts): each test stack or served process gets a new
 * one, copied from the migrated template.
 */
import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Which database this run's stacks and served processes use. */
export const TEST_BACKEND: 'sqlite' | 'postgres' = process.env.CHAINBOOT_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';

/** A new, empty (migrated) PostgreSQL database of this run's cluster: its URL, and how to drop it. */
export async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = inject('pgAdminUrl');
  if (!admin) throw new Error('no PostgreSQL cluster in this run: PostgreSQL tests run in the vitest project "postgres" (its globalSetup starts one)');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name} TEMPLATE chainboot_template`);
  const url = admin.replace(/\/postgres\?/, `/${name}?`);
  return { url, drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

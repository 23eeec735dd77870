/**
 * The two store backends behind one awaitable surface, for tests that run
 * the same cases on both: the SQLite stores (':memory:', real migrations)
 * with every method wrapped to return a Promise, and the PostgreSQL stores
 * on a fresh database of a throwaway cluster (test/helpers/postgres.ts).
 */
import { openDb } from '../../src/db/client.js';
import { createStore, type Store } from '../../src/db/store.js';
import { createTaskStore, type TaskStore } from '../../src/tasks/store.js';
import { createSiteStore, type SiteStore } from '../../src/sites/store.js';
import { canMove } from '../../src/tasks/machine.js';
import type { Task } from '../../src/db/schema.js';
import type { Async } from '../../src/db/pg/async.js';
import { openPg, type PgDb } from '../../src/db/pg/client.js';
import { createPgStore, type PgStoreExtras, type StoreSqliteOnly } from '../../src/db/pg/store.js';
import { createPgTaskStore, type PgTaskStoreExtras } from '../../src/db/pg/tasks.js';
import { createPgSiteStore } from '../../src/db/pg/sites.js';
import type { PgCluster } from '../helpers/postgres.js';
import pg from 'pg';

export type AnyStore = Async<Omit<Store, StoreSqliteOnly>> & PgStoreExtras;
export type AnyTaskStore = Async<TaskStore> & PgTaskStoreExtras;
export type AnySiteStore = Async<SiteStore>;

export interface Clock {
  now: () => number;
  tick(ms: number): number;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  store: AnyStore;
  tasks: AnyTaskStore;
  sites: AnySiteStore;
  clock: Clock;
  close(): Promise<void>;
}

/** Large enough that times need 64 bits (they are bigint columns on PostgreSQL). */
export const START = 1_764_000_000_000;
export const TASK_KEY = 'contract-task-key';

export function makeClock(start = START): Clock {
  let t = start;
  return { now: () => t, tick: (ms) => (t += ms) };
}

/** Every method of a synchronous object, returning a Promise (a throw becomes a rejection); `this` kept. */
export function awaitable<T extends object>(obj: T): Async<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = typeof v === 'function' ? (...args: unknown[]) => new Promise((resolve) => resolve((v as (...a: unknown[]) => unknown).apply(obj, args))) : v;
  }
  return out as Async<T>;
}

export function openSqliteBackend(): Backend {
  const clock = makeClock();
  const db = openDb(':memory:');
  const store = createStore(db, clock.now);
  const tasks = createTaskStore(db, () => TASK_KEY, clock.now);
  const sites = createSiteStore(db, clock.now);
  const { db: _db, writeEventBatch, ...rest } = store;
  return {
    name: 'sqlite',
    store: { ...awaitable(rest), writeEvents: async (events, seen) => writeEventBatch(events, seen) },
    tasks: {
      ...awaitable(tasks),
      /*
       * The SQLite task store has no claim(): this is what it would be there.
       * One process, synchronous: the read and the move cannot interleave
       * with another request, so comparing versions is the claim.
       */
      async claim(t: Task) {
        const current = tasks.get(t.id);
        if (current.version !== t.version || !canMove(current.state, 'served')) return undefined;
        return tasks.served(current);
      },
    },
    sites: awaitable(sites),
    clock,
    async close() {
      db.$client.close();
    },
  };
}

let databases = 0;

/**
 * A new database whose collation is ICU's en-US rather than the cluster's
 * C.UTF-8: deployments are usually created with a language locale, where
 * "Zeta" sorts after "alpha" and punctuation is nearly ignored. A listing
 * that leaned on the database's collation instead of SQLite's byte order
 * would show up here.
 */
export async function createIcuDatabase(cluster: PgCluster, name: string): Promise<string> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`database name ${name}: letters, digits and _ only`);
  const c = new pg.Client({ connectionString: cluster.url() });
  await c.connect();
  try {
    // DDL takes no parameters; the name is checked above.
    await c.query(`CREATE DATABASE "${name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`);
  } finally {
    await c.end();
  }
  return cluster.url(name);
}

export async function openPgBackend(cluster: PgCluster, opts: { max?: number } = {}): Promise<Backend & { db: PgDb }> {
  const clock = makeClock();
  const url = await createIcuDatabase(cluster, `contract_${process.pid}_${++databases}`);
  const db = await openPg(url, { max: opts.max ?? 4 });
  return {
    name: 'postgres',
    db,
    store: createPgStore(db, clock.now),
    tasks: createPgTaskStore(db, async () => TASK_KEY, clock.now),
    sites: createPgSiteStore(db, clock.now),
    clock,
    async close() {
      await db.$client.end();
    },
  };
}

/**
 * The database behind the central service, whichever it is: the embedded
 * SQLite file (the default) or PostgreSQL (DATABASE_URL=postgres://…, for
 * more than one node). Everything above this file talks to a Backend and
 * awaits its stores; nothing above it knows which database answers.
 *
 * The SQLite stores are synchronous; here they are wrapped so every method
 * returns a Promise, like the PostgreSQL stores (an await of a value already
 * there costs a microtask, not a round trip).
 *
 * Two paths cannot wait for a round trip, and read synchronous views:
 * - a template render looks up included templates by name while it runs
 *   (`templates.latestTemplate`);
 * - proxyDHCP matches a packet's site and looks up its MAC's dhcpMode in the
 *   socket handler (`siteList`, `hostLookup`).
 * On SQLite these read the database (a statement of a few µs). On PostgreSQL
 * they are in-memory copies, brought up to date by `fresh()` (one query that
 * reads the change counters; the boot service calls it before each render,
 * so an edit on one node is seen by the next request on any node) and by
 * change notifications between requests.
 */
import { randomBytes } from 'node:crypto';
import { isPostgresUrl, redactUrl } from './url.js';
import type { Host, NewBootEvent, Site, TemplateVersion } from './schema.js';
import type { SeenHost, Store } from './store.js';
import type { TaskStore } from '../tasks/store.js';
import type { SiteStore } from '../sites/store.js';
import type { Async } from './pg/async.js';
import type { StoreSqliteOnly } from './pg/store.js';
import type { Db } from './client.js';
import type { PgDb } from './pg/client.js';
import type { CachedHostLookup } from '../dhcp/host-cache.js';
import type { RetentionOptions, RetentionPolicy, RetentionResult } from './retention.js';

export type AsyncStore = Async<Omit<Store, StoreSqliteOnly>>;
export type AsyncTaskStore = Async<TaskStore>;
export type AsyncSiteStore = Async<SiteStore>;

/** One retention pass at a time; `idle` resolves when the running one (if any) has ended. */
export interface RetentionPasses {
  run(policy: RetentionPolicy): Promise<RetentionResult>;
  idle(): Promise<void>;
}

export interface Backend {
  readonly kind: 'sqlite' | 'postgres';
  /** Where the data is, for logs: the file, or the URL without its password. */
  readonly where: string;
  store: AsyncStore;
  tasks: AsyncTaskStore;
  sites: AsyncSiteStore;
  /** The boot event log's batch writer (events, and the last-seen facts of the hosts they name). */
  writeEvents(events: NewBootEvent[], seen: Map<string, SeenHost>): Promise<void>;

  /** Synchronous template lookup for the render engine: current as of the last fresh(). */
  templates: { latestTemplate(name: string): TemplateVersion | undefined };
  /** The sites, synchronously: current as of the last fresh(). Read-only; PostgreSQL's is the same array until the sites change. */
  siteList(): Site[];
  /** Brings the synchronous views up to date (templates, sites). */
  fresh(): Promise<void>;
  /** proxyDHCP's per-packet host lookup (dhcpMode), synchronous. */
  hostLookup: CachedHostLookup;

  /** Tasks by state, for /metrics. */
  taskCounts(): Promise<Map<string, number>>;
  /** Resolves when the database answers a query (readiness). */
  ping(): Promise<void>;
  /** Hosts whose dhcpMode is not "follow", by MAC (for site satellites). */
  dhcpOverrides(): Promise<{ mac: string; dhcpMode: Host['dhcpMode'] }[]>;
  /** Boot event retention in this process (serve may run SQLite's in a worker instead). */
  retention(opts?: RetentionOptions): RetentionPasses;

  /** The SQLite handle (kind sqlite): backups, the event writer and retention workers open the same file. */
  readonly sqlite?: { db: Db; file: string };
  /** The PostgreSQL pool (kind postgres). */
  readonly pg?: PgDb;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** postgres://… selects PostgreSQL; otherwise `file` is the SQLite file (':memory:' for tests). */
  databaseUrl?: string;
  file: string;
  now?: () => number;
  /** Apply the committed migrations (default true). */
  migrate?: boolean;
}

/** Wraps each method of a synchronous store so it returns a Promise (a throw becomes a rejection). */
export function asyncStore<T extends object>(o: T): Async<T> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o) as (keyof T & string)[]) {
    const v = o[key];
    out[key] =
      typeof v === 'function'
        ? (...args: unknown[]) => {
            try {
              return Promise.resolve((v as (...a: unknown[]) => unknown).apply(o, args));
            } catch (err) {
              return Promise.reject(err);
            }
          }
        : v;
  }
  return out as Async<T>;
}

/** Opens the backend the options name, with its migrations applied. */
export async function openBackend(opts: BackendOptions): Promise<Backend> {
  if (opts.databaseUrl && isPostgresUrl(opts.databaseUrl)) {
    const { openPgBackend } = await import('./pg/backend.js');
    return openPgBackend(opts.databaseUrl, opts);
  }
  if (opts.databaseUrl) throw new Error(`DATABASE_URL must be a postgres:// or postgresql:// URL (got "${redactUrl(opts.databaseUrl).slice(0, 80)}"); leave it unset for the embedded SQLite file`);
  return openSqliteBackend(opts.file, opts);
}

/** The embedded SQLite backend over one file (or ':memory:'). */
export async function openSqliteBackend(file: string, opts: { now?: () => number; migrate?: boolean } = {}): Promise<Backend> {
  const { openDb } = await import('./client.js');
  const { createStore } = await import('./store.js');
  const { createTaskStore } = await import('../tasks/store.js');
  const { createSiteStore } = await import('../sites/store.js');
  const { createHostLookupCache } = await import('../dhcp/host-cache.js');
  const { createRetention } = await import('./retention.js');
  const db = openDb(file, { migrate: opts.migrate });
  const store = createStore(db, opts.now);
  const tasks = createTaskStore(db, () => sqliteTaskSecret(store), opts.now);
  const sites = createSiteStore(db, opts.now);
  const byState = db.$client.prepare('SELECT state, count(*) AS n FROM tasks GROUP BY state');
  const ping = db.$client.prepare('SELECT 1');
  const overrides = db.$client.prepare("SELECT mac, dhcp_mode AS dhcpMode FROM hosts WHERE dhcp_mode <> 'follow' ORDER BY mac");
  let closed = false;
  return {
    kind: 'sqlite',
    where: file,
    store: asyncStore(store),
    tasks: asyncStore(tasks),
    sites: asyncStore(sites),
    async writeEvents(events, seen) {
      store.writeEventBatch(events, seen);
    },
    templates: store,
    siteList: () => sites.list(),
    fresh: () => Promise.resolve(),
    hostLookup: createHostLookupCache(db.$client, (mac) => store.hostAndProfile(mac).host),
    async taskCounts() {
      return new Map((byState.all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
    },
    async ping() {
      ping.get();
    },
    async dhcpOverrides() {
      return overrides.all() as { mac: string; dhcpMode: Host['dhcpMode'] }[];
    },
    retention: (ropts) => createRetention(db, ropts),
    sqlite: { db, file },
    async close() {
      if (closed) return;
      closed = true;
      db.$client.close();
    },
  };
}

/** The key task tokens are made with: random, made once, kept in the settings table. */
function sqliteTaskSecret(store: Store): string {
  let secret = store.getSetting('task_token_key');
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    store.setSetting('task_token_key', secret);
  }
  return secret;
}

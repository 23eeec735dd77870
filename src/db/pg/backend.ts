/**
 * The PostgreSQL Backend (src/db/backend.ts): the PG stores, and the
 * synchronous views that template renders and proxyDHCP read, kept in memory
 * and brought up to date from the database.
 *
 * - Templates (the newest version of each name) and sites: every statement
 *   that writes those tables bumps its row in change_counters and NOTIFYs
 *   chainboot_changes (migrations/pg/0001_change_notify.sql). fresh() reads
 *   the counters (one query of two rows) and reloads only the view whose
 *   counter moved. A caller of fresh() always gets a round whose query
 *   started after the call, so a write committed on any node before the call
 *   is in the views when it resolves (calls made while a round runs share
 *   the next round, so a burst of requests costs two queries, not one each).
 *   A notification, and a timer every few seconds, run a round too.
 * - Hosts: a map of every host's MAC → dhcpMode, loaded at open. A row
 *   trigger NOTIFYs chainboot_hosts with the MAC of a host inserted, deleted,
 *   or whose dhcp_mode changed; the MACs notified are read back (batched, one
 *   query at a time, in order) and the map updated. The whole map is reloaded
 *   every 30 s and whenever the LISTEN connection (re)connects, so a
 *   notification lost with a dropped connection is made good.
 *
 * The LISTEN connection is a pg.Client of its own (not from the pool). It is
 * reconnected with backoff when it drops; its errors never reach the
 * process.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import type { Backend, RetentionPasses } from '../backend.js';
import type { Host, Site, TemplateVersion } from '../schema.js';
import type { CachedHostLookup } from '../../dhcp/host-cache.js';
import type { HostMode } from '../../dhcp/firmware.js';
import { openPg, redactUrl, type PgDb } from './client.js';
import { createPgStore } from './store.js';
import { createPgTaskStore } from './tasks.js';
import { createPgSiteStore } from './sites.js';
import { createPgRetention } from './retention.js';
import { templates } from './schema.js';

/** Channels the triggers of migrations/pg/0001_change_notify.sql notify. */
export const CHANGES_CHANNEL = 'chainboot_changes';
export const HOSTS_CHANNEL = 'chainboot_hosts';
/** application_name of the LISTEN connection (pg_stat_activity). */
export const LISTEN_APPLICATION_NAME = 'chainboot-listen';

const TASK_KEY_SETTING = 'task_token_key';
/** The views' safety net: a fresh() round this often even without requests or notifications. */
const FRESH_EVERY_MS = 5_000;
/** The host map's safety net: a full reload this often (and a check that the LISTEN connection answers). */
const HOSTS_RELOAD_EVERY_MS = 30_000;
const LISTEN_PING_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;
/** MACs read back per query after notifications. */
const HOSTS_PER_LOOKUP = 5_000;

/** The LISTEN connection's state, for metrics, logs and tests. */
export interface PgWatcherStatus {
  readonly connected: boolean;
  /** The server process of the LISTEN connection (pg_stat_activity.pid), while connected. */
  readonly pid: number | undefined;
  /** Successful connections so far (1 after open; each reconnect adds one). */
  readonly connects: number;
  /** The last connection or refresh error, if any. */
  readonly lastError: string | undefined;
  /** Full reloads of the host map, and host notifications received. */
  readonly hostReloads: number;
  readonly hostNotifications: number;
}

export interface PgBackend extends Backend {
  readonly kind: 'postgres';
  readonly pg: PgDb;
  readonly watcher: PgWatcherStatus;
}

// One object per mode: a lookup allocates nothing.
const MODE: Record<HostMode, { dhcpMode: HostMode }> = {
  follow: Object.freeze({ dhcpMode: 'follow' as const }),
  loader: Object.freeze({ dhcpMode: 'loader' as const }),
  ignore: Object.freeze({ dhcpMode: 'ignore' as const }),
};
const modeOf = (m: string): { dhcpMode: HostMode } => MODE[m as HostMode] ?? MODE.follow;

export async function openPgBackend(url: string, opts: { now?: () => number; migrate?: boolean } = {}): Promise<PgBackend> {
  const db = await openPg(url, { migrate: opts.migrate });
  const pool = db.$client;
  const where = redactUrl(url);
  let closed = false;

  // ---- stores -------------------------------------------------------------
  const store = createPgStore(db, opts.now);
  let secret: Promise<string> | undefined;
  const getSecret = (): Promise<string> => {
    secret ??= taskSecret(pool).catch((e: unknown) => {
      secret = undefined; // not cached: the next call tries again
      throw e;
    });
    return secret;
  };
  const tasks = createPgTaskStore(db, getSecret, opts.now);
  const sites = createPgSiteStore(db, opts.now);

  // ---- templates and sites: the counters and fresh() ------------------------
  let latest = new Map<string, TemplateVersion>();
  let siteRows: Site[] = [];
  /** The counter values the views were loaded at (undefined: never loaded). */
  const loadedAt: { templates?: string; sites?: string } = {};

  async function loadTemplates(): Promise<void> {
    // The newest version of each name through the (name, version) index; only those rows' bodies are read.
    const rows = await db
      .select()
      .from(templates)
      .where(sql`(${templates.name}, ${templates.version}) in (select name, max(version) from templates group by name)`);
    latest = new Map(rows.map((t) => [t.name, t]));
  }
  async function loadSites(): Promise<void> {
    // Frozen: every caller gets this one array (the site directory compares it) and none may change it.
    siteRows = Object.freeze(await sites.list()) as Site[];
  }

  /**
   * One round: the counters, then the views whose counter moved. A view's
   * data is read after its counter, so it is at least as new as the value
   * recorded; a write in between only makes the next round reload again.
   */
  async function round(): Promise<void> {
    const { rows } = await pool.query<{ name: string; n: string }>('select name, n::text as n from change_counters');
    const n = new Map(rows.map((r) => [r.name, r.n]));
    const t = n.get('templates');
    const s = n.get('sites');
    // A counter row that is missing (never expected) means "reload every time".
    await Promise.all([
      t === undefined || t !== loadedAt.templates ? loadTemplates().then(() => void (loadedAt.templates = t)) : undefined,
      s === undefined || s !== loadedAt.sites ? loadSites().then(() => void (loadedAt.sites = s)) : undefined,
    ]);
  }

  let current: Promise<void> | null = null;
  let following: Promise<void> | null = null;
  /**
   * A round that starts no earlier than this call: the running round's query
   * may have been sent before the caller's write committed, so a caller that
   * finds one running waits for it and shares the next.
   */
  function fresh(): Promise<void> {
    if (closed) return Promise.reject(new Error(`PostgreSQL backend at ${where} is closed`));
    if (!current) {
      current = round().finally(() => {
        current = null;
      });
      return current;
    }
    following ??= current.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      following = null;
      return fresh();
    });
    return following;
  }
  /** A round for a notification or a timer: errors are remembered, not thrown. */
  const freshQuietly = () => {
    if (closed) return;
    fresh().catch((e: unknown) => {
      if (!closed) status.lastError = `refreshing templates/sites: ${(e as Error).message}`;
    });
  };

  // ---- hosts: MAC → dhcpMode ----------------------------------------------
  let modes = new Map<string, { dhcpMode: HostMode }>();
  const stats = { unknown: 0, asked: 0, hosts: 0 };
  const hostLookup = ((mac: string) => {
    const m = modes.get(mac);
    if (m === undefined) stats.unknown++;
    else stats.asked++;
    return m;
  }) as CachedHostLookup;
  // On PostgreSQL every lookup is answered from memory: `asked` counts the known MACs.
  Object.defineProperty(hostLookup, 'stats', { get: () => stats });

  async function reloadHosts(): Promise<void> {
    const { rows } = await pool.query<{ mac: string; m: string }>('select mac, dhcp_mode as m from hosts');
    const next = new Map<string, { dhcpMode: HostMode }>();
    for (const r of rows) next.set(r.mac, modeOf(r.m));
    modes = next;
    stats.hosts = modes.size;
    status.hostReloads++;
  }
  async function lookupHosts(macs: string[]): Promise<void> {
    for (let i = 0; i < macs.length; i += HOSTS_PER_LOOKUP) {
      const part = macs.slice(i, i + HOSTS_PER_LOOKUP);
      const { rows } = await pool.query<{ mac: string; m: string }>('select mac, dhcp_mode as m from hosts where mac = any($1::text[])', [part]);
      const found = new Map(rows.map((r) => [r.mac, r.m]));
      for (const mac of part) {
        const m = found.get(mac);
        if (m === undefined) modes.delete(mac);
        else modes.set(mac, modeOf(m));
      }
    }
    stats.hosts = modes.size;
  }

  // Host map updates run one at a time, in order: each reads the database after the one before, so a later
  // answer is never overwritten by an earlier one.
  let hostChain: Promise<void> = Promise.resolve();
  const notifiedMacs = new Set<string>();
  let fullReloadWanted = false;
  let hostWorkQueued = false;
  let hostRetry: NodeJS.Timeout | undefined;
  function scheduleHostWork(): void {
    if (hostWorkQueued || closed) return;
    hostWorkQueued = true;
    hostChain = hostChain.then(async () => {
      hostWorkQueued = false;
      if (closed) return;
      const full = fullReloadWanted;
      const macs = full ? [] : [...notifiedMacs];
      fullReloadWanted = false;
      notifiedMacs.clear();
      try {
        if (full) await reloadHosts();
        else if (macs.length) await lookupHosts(macs);
      } catch (e) {
        if (closed) return;
        status.lastError = `refreshing the host map: ${(e as Error).message}`;
        // Whatever was missed is made good by a full reload, soon.
        fullReloadWanted = true;
        clearTimeout(hostRetry);
        hostRetry = setTimeout(scheduleHostWork, 1_000);
        hostRetry.unref();
      }
    });
  }
  const wantFullHostReload = () => {
    fullReloadWanted = true;
    scheduleHostWork();
  };

  // ---- the LISTEN connection ------------------------------------------------
  const status = {
    connected: false,
    pid: undefined as number | undefined,
    connects: 0,
    lastError: undefined as string | undefined,
    hostReloads: 0,
    hostNotifications: 0,
  };
  let listener: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoff = RECONNECT_MIN_MS;

  function onNotification(msg: pg.Notification): void {
    if (closed) return;
    if (msg.channel === HOSTS_CHANNEL) {
      status.hostNotifications++;
      if (msg.payload) notifiedMacs.add(msg.payload);
      scheduleHostWork();
    } else if (msg.channel === CHANGES_CHANNEL) {
      freshQuietly();
    }
  }

  /**
   * Connects and LISTENs; resolves true when listening. Never rejects. A
   * reconnect (`catchUp`) then reloads the host map and runs a round: what
   * changed while nobody listened is read in full.
   */
  async function connect(catchUp: boolean): Promise<boolean> {
    const client = new pg.Client({ connectionString: url, application_name: LISTEN_APPLICATION_NAME, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    let gone = false;
    const lost = (why: string) => {
      if (gone) return;
      gone = true;
      if (listener === client) {
        listener = null;
        status.connected = false;
        status.pid = undefined;
      }
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (!closed) {
        status.lastError = `LISTEN connection: ${why}`;
        scheduleReconnect();
      }
    };
    client.on('error', (e) => lost(e.message));
    client.on('end', () => lost('closed by the server'));
    client.on('notification', onNotification);
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}; listen ${HOSTS_CHANNEL}`);
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      if (gone) return false;
      if (closed) {
        gone = true;
        await client.end().catch(() => undefined);
        return false;
      }
      listener = client;
      status.connected = true;
      status.pid = rows[0]?.pid;
      status.connects++;
      backoff = RECONNECT_MIN_MS;
      if (catchUp) {
        wantFullHostReload();
        freshQuietly();
      }
      return true;
    } catch (e) {
      lost((e as Error).message);
      return false;
    }
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    const wait = backoff;
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!closed && !listener) void connect(true);
    }, wait);
    reconnectTimer.unref();
  }

  /** A LISTEN connection that no longer answers (a silent network drop) is replaced. */
  function pingListener(): void {
    const client = listener;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${LISTEN_PING_TIMEOUT_MS / 1000} s`)), LISTEN_PING_TIMEOUT_MS);
      timer.unref();
    });
    Promise.race([client.query('select 1'), timeout])
      .catch((e: unknown) => {
        if (listener === client) client.emit('error', e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => clearTimeout(timer));
  }

  // ---- open ------------------------------------------------------------------
  let freshTimer: NodeJS.Timeout | undefined;
  let hostsTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      clearInterval(freshTimer);
      clearInterval(hostsTimer);
      clearTimeout(reconnectTimer);
      clearTimeout(hostRetry);
      const l = listener;
      listener = null;
      status.connected = false;
      status.pid = undefined;
      if (l) await l.end().catch(() => undefined);
      // Rounds and host updates in flight finish (or fail) before the pool goes.
      await Promise.allSettled([current, following, hostChain]);
      await pool.end().catch(() => undefined);
    })();
    return closing;
  }

  // LISTEN first, so nothing committed after the loads below is missed. The first connection is waited
  // for; should it fail, it is retried in the background (and its connect reloads everything).
  await connect(false);
  try {
    const hostsLoaded = hostChain.then(reloadHosts);
    hostChain = hostsLoaded.catch(() => undefined);
    await Promise.all([hostsLoaded, fresh()]);
  } catch (e) {
    await shutdown();
    throw new Error(`PostgreSQL at ${where}: ${(e as Error).message}`);
  }
  freshTimer = setInterval(freshQuietly, FRESH_EVERY_MS);
  freshTimer.unref();
  hostsTimer = setInterval(() => {
    wantFullHostReload();
    pingListener();
  }, HOSTS_RELOAD_EVERY_MS);
  hostsTimer.unref();

  async function thenFresh<T>(write: Promise<T>): Promise<T> {
    const r = await write;
    await fresh();
    return r;
  }

  const backend: PgBackend = {
    kind: 'postgres',
    where,
    // A template or site written through this node is in this node's views when the write resolves (other nodes: at their next fresh()).
    store: { ...store, saveTemplate: (...a: Parameters<typeof store.saveTemplate>) => thenFresh(store.saveTemplate(...a)) },
    tasks,
    sites: {
      ...sites,
      create: (...a: Parameters<typeof sites.create>) => thenFresh(sites.create(...a)),
      replace: (...a: Parameters<typeof sites.replace>) => thenFresh(sites.replace(...a)),
      remove: (...a: Parameters<typeof sites.remove>) => thenFresh(sites.remove(...a)),
    },
    writeEvents: (events, seen) => store.writeEvents(events, seen),
    templates: { latestTemplate: (name: string) => latest.get(name) },
    // The same array until the sites change (the site directory rebuilds its matcher only then); never mutated.
    siteList: () => siteRows,
    fresh,
    hostLookup,
    async taskCounts() {
      const { rows } = await pool.query<{ state: string; n: number }>('select state, count(*)::int as n from tasks group by state');
      return new Map(rows.map((r) => [r.state, r.n]));
    },
    async ping() {
      await pool.query('select 1');
    },
    async dhcpOverrides() {
      const { rows } = await pool.query<{ mac: string; dhcpMode: Host['dhcpMode'] }>(
        `select mac, dhcp_mode as "dhcpMode" from hosts where dhcp_mode <> 'follow' order by mac collate "C"`,
      );
      return rows;
    },
    retention: (ropts): RetentionPasses => createPgRetention(db, ropts),
    sqlite: undefined,
    pg: db,
    watcher: status,
    close: shutdown,
  };
  return backend;
}

/**
 * The task token key: read, or made once. Two nodes starting on a new
 * database at once both insert; ON CONFLICT DO NOTHING keeps the first, and
 * both read back the one that was kept (in a new statement, so it sees the
 * other node's committed row).
 */
async function taskSecret(pool: pg.Pool): Promise<string> {
  const read = async () => (await pool.query<{ value: string }>('select value from settings where key = $1', [TASK_KEY_SETTING])).rows[0]?.value;
  const have = await read();
  if (have) return have;
  await pool.query('insert into settings (key, value) values ($1, $2) on conflict (key) do nothing', [TASK_KEY_SETTING, randomBytes(32).toString('base64url')]);
  const kept = await read();
  if (!kept) throw new Error(`the ${TASK_KEY_SETTING} setting could not be made`);
  return kept;
}

/**
 * Read models for the admin UI: a sortable, paged host table and the
 * dashboard figures. Kept apart from db/store.ts because they exist for
 * screens, not for the boot path or the API, and nothing here writes.
 *
 * Two implementations answer the same `UiQueries` interface: this file's over
 * the embedded SQLite database and queries-pg.ts's over PostgreSQL, with the
 * same rows in the same order (test/ui/queries-pg.test.ts compares them on
 * the same data). `uiQueriesFor(backend)` picks the one for the backend.
 *
 * The host table stays fast with tens of thousands of hosts because a page is
 * found in two steps: first only the ids of the page (ORDER BY the sort key,
 * LIMIT/OFFSET — the database walks an index or sorts bare keys), then the
 * details of those ids alone. No query hands every host row to JavaScript.
 */
import type { Db } from '../db/client.js';
import type { Backend } from '../db/backend.js';
import type { TaskState } from '../db/schema.js';
import { mergeCandidates, pageRows, searchPatterns, transfers, type DashboardFigures, type DetailRow, type FailedEvent, type HostPageQuery, type HostRow, type HostSort, type Transfers, type UiQueries } from './queries-common.js';
import { createPgUiQueries } from './queries-pg.js';

export * from './queries-common.js';

/** The UI queries for a backend: SQLite's statements over its file, or PostgreSQL's over its pool. */
export function uiQueriesFor(backend: Backend): UiQueries {
  if (backend.kind === 'postgres') {
    if (!backend.pg) throw new Error('PostgreSQL backend without its pool');
    return createPgUiQueries(backend.pg);
  }
  if (!backend.sqlite) throw new Error('SQLite backend without its database handle');
  return createUiQueries(backend.sqlite.db);
}

const OPEN_STATES = "('pending','served','running')";
const OPEN_TASK_ID = `(SELECT t.id FROM tasks t WHERE t.host_id = h.id AND t.state IN ${OPEN_STATES} ORDER BY t.id DESC LIMIT 1)`;
const OPEN_TASK_STATE = `(SELECT t.state FROM tasks t WHERE t.host_id = h.id AND t.state IN ${OPEN_STATES} ORDER BY t.id DESC LIMIT 1)`;
// boot_events_mac_at_idx answers this with one index seek per host. Events of the same millisecond: the newest
// (highest id) wins, as the backwards scan of (mac, at, rowid) gives it; said out loud so PostgreSQL agrees.
const LAST_STATUS = '(SELECT e.status FROM boot_events e WHERE e.mac = h.mac ORDER BY e.at DESC, e.id DESC LIMIT 1)';
const LAST_RESULT = '(SELECT e.result FROM boot_events e WHERE e.mac = h.mac ORDER BY e.at DESC, e.id DESC LIMIT 1)';
const STATUS = `CASE WHEN h.discovered THEN 'discovered' WHEN h.last_seen IS NULL THEN 'new' WHEN coalesce(${LAST_STATUS}, 200) >= 400 THEN 'failing' ELSE 'ok' END`;
const ACTION = "CASE WHEN h.menu_mode != 'never' THEN 'menu' ELSE coalesce(p.kind, 'local') END";

/** Sort keys; every one ends with the MAC so pages never overlap. Missing values sort last either way. */
function orderBy(sort: HostSort, dir: 'asc' | 'desc'): string {
  const d = dir === 'desc' ? 'DESC' : 'ASC';
  switch (sort) {
    case 'mac':
      return `h.mac ${d}`;
    case 'hostname':
      return `h.hostname IS NULL, h.hostname COLLATE NOCASE ${d}, h.mac ASC`;
    case 'profile':
      return `p.name IS NULL, p.name ${d}, h.mac ASC`;
    case 'action':
      return `${ACTION} ${d}, p.name ${d}, h.mac ASC`;
    case 'lastSeen':
      return `h.last_seen IS NULL, h.last_seen ${d}, h.mac ASC`;
    case 'task':
      return `${OPEN_TASK_STATE} IS NULL, ${OPEN_TASK_STATE} ${d}, h.mac ASC`;
    case 'status':
      return `${STATUS} ${d}, h.mac ASC`;
  }
}

/** The SQL the first step of hostsPage runs on SQLite, for EXPLAIN QUERY PLAN in tests. */
export function hostsPageSql(sort: HostSort, dir: 'asc' | 'desc'): string {
  return `SELECT h.id FROM hosts h LEFT JOIN profiles p ON p.id = h.profile_id ORDER BY ${orderBy(sort, dir)} LIMIT 50 OFFSET 0`;
}

/** The UI queries over the embedded SQLite database (synchronous statements, answered as Promises). */
export function createUiQueries(db: Db): UiQueries {
  const sqlite = db.$client;

  function taskCounts(): Record<string, number> {
    const rows = sqlite.prepare('SELECT state, count(*) AS n FROM tasks GROUP BY state ORDER BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  function where(q: string | undefined): { sql: string; params: string[] } {
    const s = searchPatterns(q);
    if (!s) return { sql: '', params: [] };
    return {
      sql: "WHERE (h.mac LIKE ? ESCAPE '\\' OR h.hostname LIKE ? ESCAPE '\\' OR h.notes LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\' OR h.labels LIKE ? ESCAPE '\\')",
      params: [s.macPat, s.pat, s.pat, s.pat, s.pat],
    };
  }

  function details(ids: number[]): HostRow[] {
    if (!ids.length) return [];
    const rows = sqlite
      .prepare(
        `SELECT h.id, h.mac, h.hostname, h.menu_mode, h.dhcp_mode, h.labels, h.discovered, h.last_seen,
                p.name AS profile, p.kind AS profile_kind,
                ${OPEN_TASK_ID} AS task_id, ${LAST_STATUS} AS last_status, ${LAST_RESULT} AS last_result,
                ${STATUS} AS status
           FROM hosts h LEFT JOIN profiles p ON p.id = h.profile_id
          WHERE h.id IN (${ids.map(() => '?').join(',')})`,
      )
      .all(...ids) as Record<string, unknown>[];
    const taskIds = rows.map((r) => r.task_id).filter((x): x is number => typeof x === 'number');
    const tasks = new Map<number, { state: TaskState; profile: string }>();
    if (taskIds.length) {
      const trows = sqlite
        .prepare(`SELECT t.id, t.state, p.name AS profile FROM tasks t JOIN profiles p ON p.id = t.profile_id WHERE t.id IN (${taskIds.map(() => '?').join(',')})`)
        .all(...taskIds) as { id: number; state: TaskState; profile: string }[];
      for (const t of trows) tasks.set(t.id, t);
    }
    return pageRows(
      ids,
      rows.map((r) => ({ ...(r as Omit<DetailRow, 'labels' | 'discovered'>), labels: JSON.parse(r.labels as string) as string[], discovered: r.discovered === 1 })),
      tasks,
    );
  }

  const hostsPage = sqlite.transaction((opts: HostPageQuery): { total: number; rows: HostRow[] } => {
    const w = where(opts.q);
    const join = 'FROM hosts h LEFT JOIN profiles p ON p.id = h.profile_id';
    const total = w.sql
      ? (sqlite.prepare(`SELECT count(*) ${join} ${w.sql}`).pluck().get(...w.params) as number)
      : (sqlite.prepare('SELECT count(*) FROM hosts').pluck().get() as number);
    const ids = sqlite
      .prepare(`SELECT h.id ${join} ${w.sql} ORDER BY ${orderBy(opts.sort ?? 'mac', opts.dir ?? 'asc')} LIMIT ? OFFSET ?`)
      .pluck()
      .all(...w.params, opts.limit, opts.offset) as number[];
    return { total, rows: details(ids) };
  });

  const queries = {
    // A deferred read transaction: in WAL mode the count and the page see one snapshot.
    hostsPage: (opts: HostPageQuery) => hostsPage.deferred(opts),

    lastClientIp(mac: string): string | undefined {
      return (
        (sqlite.prepare("SELECT client_ip FROM boot_events WHERE mac = ? AND client_ip IS NOT NULL AND kind != 'dhcp' ORDER BY at DESC, id DESC LIMIT 1").pluck().get(mac) as string | null | undefined) ??
        undefined
      );
    },

    macByHostname(name: string): string | undefined {
      const rows = sqlite.prepare('SELECT mac FROM hosts WHERE hostname = ? COLLATE NOCASE ORDER BY mac LIMIT 2').pluck().all(name) as string[];
      return rows.length === 1 ? rows[0] : undefined;
    },

    previewCandidates(profileIds: number[], limit = 30): { mac: string; hostname: string | null }[] {
      const out = new Map<string, { mac: string; hostname: string | null }>();
      if (profileIds.length) {
        const list = profileIds.map(() => '?').join(',');
        const rows = sqlite
          .prepare(
            `SELECT h.mac, h.hostname FROM hosts h
              WHERE h.profile_id IN (${list})
                 OR EXISTS (SELECT 1 FROM tasks t WHERE t.host_id = h.id AND t.state IN ${OPEN_STATES} AND t.profile_id IN (${list}))
              ORDER BY h.last_seen IS NULL, h.last_seen DESC, h.mac LIMIT ?`,
          )
          .all(...profileIds, ...profileIds, limit) as { mac: string; hostname: string | null }[];
        for (const r of rows) out.set(r.mac, r);
      }
      const recent = sqlite.prepare('SELECT mac, hostname FROM hosts ORDER BY last_seen IS NULL, last_seen DESC, mac LIMIT ?').all(limit) as { mac: string; hostname: string | null }[];
      return mergeCandidates(out, recent, limit);
    },

    hostProfiles(macs: string[]): Map<string, string | null> {
      if (!macs.length) return new Map();
      // The list as one JSON parameter: SQLite takes at most 32766 parameters.
      const rows = sqlite
        .prepare('SELECT h.mac, p.name FROM hosts h LEFT JOIN profiles p ON p.id = h.profile_id WHERE h.mac IN (SELECT value FROM json_each(?)) ORDER BY h.mac')
        .all(JSON.stringify(macs)) as { mac: string; name: string | null }[];
      return new Map(rows.map((r) => [r.mac, r.name]));
    },

    hostsPerProfile(): Map<number, number> {
      const rows = sqlite.prepare('SELECT profile_id AS id, count(*) AS n FROM hosts WHERE profile_id IS NOT NULL GROUP BY profile_id ORDER BY profile_id').all() as { id: number; n: number }[];
      return new Map(rows.map((r) => [r.id, r.n]));
    },

    taskCounts,

    dashboard(since: number, now: number): DashboardFigures {
      const one = <T>(sql: string, ...p: unknown[]) => sqlite.prepare(sql).pluck().get(...p) as T;
      const hourAgo = now - 3_600_000;
      const transfer = (from: number): Transfers => {
        const rows = sqlite
          .prepare(
            `SELECT CASE WHEN kind = 'tftp' THEN 'tftp' ELSE 'http' END AS via, count(*) AS n,
                    coalesce(sum(json_extract(detail, '$.bytes')), 0) AS bytes
               FROM boot_events WHERE at >= ? AND kind IN ('tftp', 'asset', 'loader') GROUP BY via`,
          )
          .all(from) as { via: 'tftp' | 'http'; n: number; bytes: number }[];
        return transfers(rows);
      };
      return {
        hosts: one<number>('SELECT count(*) FROM hosts'),
        discovered: one<number>('SELECT count(*) FROM hosts WHERE discovered = 1'),
        bootedToday: one<number>('SELECT count(*) FROM hosts WHERE last_seen >= ?', since),
        tasks: taskCounts(),
        tasksFailedToday: one<number>("SELECT count(*) FROM tasks WHERE state IN ('failed', 'expired') AND finished_at >= ?", since),
        errorEventsToday: one<number>('SELECT count(*) FROM boot_events WHERE at >= ? AND status >= 400', since),
        today: transfer(since),
        lastHour: transfer(hourAgo),
      };
    },

    recentFailures(since: number, limit: number): FailedEvent[] {
      return sqlite
        .prepare('SELECT id, at, mac, client_ip AS clientIp, kind, request, result, status FROM boot_events WHERE at >= ? AND status >= 400 ORDER BY at DESC, id DESC LIMIT ?')
        .all(since, limit) as FailedEvent[];
    },
  };
  return promised(queries);
}

/** Each method of a synchronous object answering a Promise (a throw becomes a rejection). */
function promised<T extends Record<string, (...a: never[]) => unknown>>(o: T): { [K in keyof T]: (...a: Parameters<T[K]>) => Promise<Awaited<ReturnType<T[K]>>> } {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(o)) {
    out[k] = (...a: unknown[]) => {
      try {
        return Promise.resolve((f as (...x: unknown[]) => unknown)(...a));
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
  return out as { [K in keyof T]: (...a: Parameters<T[K]>) => Promise<Awaited<ReturnType<T[K]>>> };
}

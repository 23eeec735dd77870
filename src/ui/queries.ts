/**
 * Read models for the admin UI, over the db handed in: a sortable, paged host
 * table and the dashboard figures. Kept apart from db/store.ts because they
 * exist for screens, not for the boot path or the API, and nothing here
 * writes.
 *
 * The host table stays fast with tens of thousands of hosts because a page is
 * found in two steps: first only the ids of the page (ORDER BY the sort key,
 * LIMIT/OFFSET — SQLite walks an index or sorts bare keys), then the details
 * of those ids alone. No query hands every host row to JavaScript.
 */
import type { Db } from '../db/client.js';
import type { TaskState } from '../db/schema.js';

export const HOST_SORTS = ['mac', 'hostname', 'profile', 'action', 'lastSeen', 'task', 'status'] as const;
export type HostSort = (typeof HOST_SORTS)[number];

export type HostStatus = 'discovered' | 'new' | 'failing' | 'ok';

export interface HostRow {
  id: number;
  mac: string;
  hostname: string | null;
  profile: string | null;
  profileKind: string | null;
  menuMode: 'never' | 'always' | 'key';
  dhcpMode: 'follow' | 'loader' | 'ignore';
  labels: string[];
  discovered: boolean;
  lastSeen: number | null;
  taskId: number | null;
  taskState: TaskState | null;
  taskProfile: string | null;
  lastStatus: number | null;
  lastResult: string | null;
  status: HostStatus;
}

export interface HostPageQuery {
  q?: string;
  sort?: HostSort;
  dir?: 'asc' | 'desc';
  limit: number;
  offset: number;
}

const OPEN_STATES = "('pending','served','running')";
const OPEN_TASK_ID = `(SELECT t.id FROM tasks t WHERE t.host_id = h.id AND t.state IN ${OPEN_STATES} ORDER BY t.id DESC LIMIT 1)`;
const OPEN_TASK_STATE = `(SELECT t.state FROM tasks t WHERE t.host_id = h.id AND t.state IN ${OPEN_STATES} ORDER BY t.id DESC LIMIT 1)`;
// boot_events_mac_at_idx answers this with one index seek per host.
const LAST_STATUS = '(SELECT e.status FROM boot_events e WHERE e.mac = h.mac ORDER BY e.at DESC LIMIT 1)';
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

/** q as a LIKE pattern that matches q literally (% and _ in a search are not wildcards). */
function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (m) => '\\' + m)}%`;
}

export type UiQueries = ReturnType<typeof createUiQueries>;

export function createUiQueries(db: Db) {
  const sqlite = db.$client;

  function taskCounts(): Record<string, number> {
    const rows = sqlite.prepare('SELECT state, count(*) AS n FROM tasks GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  function where(q: string | undefined): { sql: string; params: string[] } {
    const t = q?.trim();
    if (!t) return { sql: '', params: [] };
    const pat = likePattern(t);
    const macPat = likePattern(t.toLowerCase().replace(/-/g, ':'));
    return {
      sql: "WHERE (h.mac LIKE ? ESCAPE '\\' OR h.hostname LIKE ? ESCAPE '\\' OR h.notes LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\' OR h.labels LIKE ? ESCAPE '\\')",
      params: [macPat, pat, pat, pat, pat],
    };
  }

  function details(ids: number[]): HostRow[] {
    if (!ids.length) return [];
    const rows = sqlite
      .prepare(
        `SELECT h.id, h.mac, h.hostname, h.menu_mode, h.dhcp_mode, h.labels, h.discovered, h.last_seen,
                p.name AS profile, p.kind AS profile_kind,
                ${OPEN_TASK_ID} AS task_id, ${LAST_STATUS} AS last_status,
                (SELECT e.result FROM boot_events e WHERE e.mac = h.mac ORDER BY e.at DESC LIMIT 1) AS last_result,
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
    const byId = new Map(
      rows.map((r) => {
        const task = typeof r.task_id === 'number' ? tasks.get(r.task_id) : undefined;
        const row: HostRow = {
          id: r.id as number,
          mac: r.mac as string,
          hostname: (r.hostname as string | null) ?? null,
          profile: (r.profile as string | null) ?? null,
          profileKind: (r.profile_kind as string | null) ?? null,
          menuMode: r.menu_mode as HostRow['menuMode'],
          dhcpMode: r.dhcp_mode as HostRow['dhcpMode'],
          labels: JSON.parse(r.labels as string) as string[],
          discovered: r.discovered === 1,
          lastSeen: (r.last_seen as number | null) ?? null,
          taskId: task ? (r.task_id as number) : null,
          taskState: task?.state ?? null,
          taskProfile: task?.profile ?? null,
          lastStatus: (r.last_status as number | null) ?? null,
          lastResult: (r.last_result as string | null) ?? null,
          status: r.status as HostStatus,
        };
        return [row.id, row];
      }),
    );
    return ids.map((id) => byId.get(id)).filter((r): r is HostRow => !!r);
  }

  return {
    /** One page of the host table, sorted and filtered in SQL. */
    hostsPage(opts: HostPageQuery): { total: number; rows: HostRow[] } {
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
    },

    /** The SQL the first step of hostsPage runs, for EXPLAIN in tests. */
    hostsPageSql(sort: HostSort, dir: 'asc' | 'desc'): string {
      return `SELECT h.id FROM hosts h LEFT JOIN profiles p ON p.id = h.profile_id ORDER BY ${orderBy(sort, dir)} LIMIT 50 OFFSET 0`;
    },

    /**
     * The address a host last made a request from, by boot_events_mac_at_idx.
     * DHCP events are left out: a relayed request's source is the relay, not the host.
     */
    lastClientIp(mac: string): string | undefined {
      return (sqlite.prepare("SELECT client_ip FROM boot_events WHERE mac = ? AND client_ip IS NOT NULL AND kind != 'dhcp' ORDER BY at DESC LIMIT 1").pluck().get(mac) as string | null | undefined) ?? undefined;
    },

    /** A host's MAC by its host name (case-insensitive), if exactly one host has it. */
    macByHostname(name: string): string | undefined {
      const rows = sqlite.prepare('SELECT mac FROM hosts WHERE hostname = ? COLLATE NOCASE LIMIT 2').pluck().all(name) as string[];
      return rows.length === 1 ? rows[0] : undefined;
    },

    /** Hosts to offer for a template preview: those whose profile uses it first, then the most recently seen. */
    previewCandidates(profileIds: number[], limit = 30): { mac: string; hostname: string | null }[] {
      const out = new Map<string, { mac: string; hostname: string | null }>();
      if (profileIds.length) {
        const rows = sqlite
          .prepare(
            `SELECT DISTINCT h.mac, h.hostname FROM hosts h LEFT JOIN tasks t ON t.host_id = h.id AND t.state IN ${OPEN_STATES}
              WHERE h.profile_id IN (${profileIds.map(() => '?').join(',')}) OR t.profile_id IN (${profileIds.map(() => '?').join(',')})
              ORDER BY h.last_seen IS NULL, h.last_seen DESC LIMIT ?`,
          )
          .all(...profileIds, ...profileIds, limit) as { mac: string; hostname: string | null }[];
        for (const r of rows) out.set(r.mac, r);
      }
      const recent = sqlite.prepare('SELECT mac, hostname FROM hosts ORDER BY last_seen IS NULL, last_seen DESC, mac LIMIT ?').all(limit) as { mac: string; hostname: string | null }[];
      for (const r of recent) if (out.size < limit * 2 && !out.has(r.mac)) out.set(r.mac, r);
      return [...out.values()];
    },

    /** Number of hosts per profile id (for the profile list). */
    hostsPerProfile(): Map<number, number> {
      const rows = sqlite.prepare('SELECT profile_id AS id, count(*) AS n FROM hosts WHERE profile_id IS NOT NULL GROUP BY profile_id').all() as { id: number; n: number }[];
      return new Map(rows.map((r) => [r.id, r.n]));
    },

    /** Tasks per state (all time). */
    taskCounts,

    /**
     * The dashboard's figures since `since` (local midnight) and over the last
     * hour before `now`. Throughput comes from the bytes the TFTP server and
     * the asset routes record in each transfer's boot event.
     */
    dashboard(since: number, now: number) {
      const one = <T>(sql: string, ...p: unknown[]) => sqlite.prepare(sql).pluck().get(...p) as T;
      const hourAgo = now - 3_600_000;
      const transfer = (from: number) => {
        const rows = sqlite
          .prepare(
            `SELECT CASE WHEN kind = 'tftp' THEN 'tftp' ELSE 'http' END AS via, count(*) AS n,
                    coalesce(sum(json_extract(detail, '$.bytes')), 0) AS bytes
               FROM boot_events WHERE at >= ? AND kind IN ('tftp', 'asset', 'loader') GROUP BY via`,
          )
          .all(from) as { via: 'tftp' | 'http'; n: number; bytes: number }[];
        const out = { tftp: { transfers: 0, bytes: 0 }, http: { transfers: 0, bytes: 0 } };
        for (const r of rows) out[r.via] = { transfers: r.n, bytes: r.bytes };
        return out;
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

    /** The newest boot events since `since` that failed (status ≥ 400); boot_events_at_idx bounds the scan. */
    recentFailures(since: number, limit: number) {
      return sqlite
        .prepare('SELECT id, at, mac, client_ip AS clientIp, kind, request, result, status FROM boot_events WHERE at >= ? AND status >= 400 ORDER BY at DESC, id DESC LIMIT ?')
        .all(since, limit) as { id: number; at: number; mac: string | null; clientIp: string | null; kind: string; request: string; result: string; status: number }[];
    },
  };
}

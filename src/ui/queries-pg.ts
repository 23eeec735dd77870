/**
 * The UI's read models (queries.ts) over PostgreSQL: the same rows, in the
 * same order, as the SQLite statements give on the same data, whatever the
 * database's locale.
 *
 * Where the two databases differ by default, this file says what SQLite does:
 * - text is ordered bytewise (COLLATE "C"), as SQLite's BINARY collation;
 *   COLLATE NOCASE is the text with A–Z folded to a–z, then bytewise;
 * - NULL is the smallest value (SQLite sorts it first ascending, last
 *   descending; PostgreSQL the other way round unless told);
 * - LIKE folds ASCII letters only (ILIKE would fold every letter), with the
 *   backslash escape the search patterns use; a NUL ends the pattern, as it
 *   does for SQLite's C-string matcher (PostgreSQL refuses NUL in text);
 * - labels are searched in SQLite's JSON text (["a","b"]), not jsonb's
 *   (["a", "b"]);
 * - events of the same millisecond: the one with the higher id is the newer
 *   (the queries say so on both databases);
 * - counts and sums come back as bigint/numeric strings and are made numbers.
 *
 * A host page's count, ids and details are read in one REPEATABLE READ
 * snapshot, so the count and the page agree while hosts are added meanwhile.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { PgDb } from '../db/pg/client.js';
import { SNAPSHOT, type Q } from '../db/pg/store.js';
import type { TaskState } from '../db/schema.js';
import { mergeCandidates, pageRows, searchPatterns, transfers, type DashboardFigures, type DetailRow, type FailedEvent, type HostPageQuery, type HostRow, type HostSort, type UiQueries } from './queries-common.js';

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
/** SQLite's NOCASE (and LIKE's) folding of an SQL expression: ASCII letters only. */
const fold = (expr: string) => `translate(${expr}, '${UPPER}', '${LOWER}')`;

const OPEN_STATES = "('pending','served','running')";
const OPEN_TASK_ID = `(select t.id from tasks t where t.host_id = h.id and t.state in ${OPEN_STATES} order by t.id desc limit 1)`;
const OPEN_TASK_STATE = `(select t.state from tasks t where t.host_id = h.id and t.state in ${OPEN_STATES} order by t.id desc limit 1)`;
const LAST_STATUS = '(select e.status from boot_events e where e.mac = h.mac order by e.at desc, e.id desc limit 1)';
const LAST_RESULT = '(select e.result from boot_events e where e.mac = h.mac order by e.at desc, e.id desc limit 1)';
const STATUS = `(case when h.discovered then 'discovered' when h.last_seen is null then 'new' when coalesce(${LAST_STATUS}, 200) >= 400 then 'failing' else 'ok' end)`;
const ACTION = "(case when h.menu_mode <> 'never' then 'menu' else coalesce(p.kind, 'local') end)";
/** The labels as SQLite holds them (JSON.stringify's text): jsonb writes ", " between elements. */
const LABELS_TEXT = `replace(h.labels::text, '", "', '","')`;
const FROM = 'from hosts h left join profiles p on p.id = h.profile_id';

/** The SQLite sort keys of queries.ts, spelled for PostgreSQL. */
function orderBy(sort: HostSort, dir: 'asc' | 'desc'): string {
  const d = dir === 'desc' ? 'desc' : 'asc';
  // SQLite: NULL below every value.
  const nulls = dir === 'desc' ? 'nulls last' : 'nulls first';
  const mac = 'h.mac collate "C" asc';
  switch (sort) {
    case 'mac':
      // No COLLATE here, so hosts_mac_unique (built with the database's collation) serves the order: stored MACs are
      // all aa:bb:cc:dd:ee:ff in lower-case hex, which every collation orders as bytes do.
      return `h.mac ${d}`;
    case 'hostname':
      return `(h.hostname is null), ${fold('h.hostname')} collate "C" ${d}, ${mac}`;
    case 'profile':
      return `(p.name is null), p.name collate "C" ${d}, ${mac}`;
    case 'action':
      return `${ACTION} collate "C" ${d}, p.name collate "C" ${d} ${nulls}, ${mac}`;
    case 'lastSeen':
      return `(h.last_seen is null), h.last_seen ${d}, ${mac}`;
    case 'task':
      return `(${OPEN_TASK_STATE} is null), ${OPEN_TASK_STATE} collate "C" ${d}, ${mac}`;
    case 'status':
      return `${STATUS} collate "C" ${d}, ${mac}`;
  }
}

/** The SQL the first step of hostsPage runs on PostgreSQL (no search), for EXPLAIN in tests. */
export function pgHostsPageSql(sort: HostSort, dir: 'asc' | 'desc'): string {
  return `select h.id ${FROM} order by ${orderBy(sort, dir)} limit 50 offset 0`;
}

/** The text up to its first NUL: SQLite reads a LIKE pattern as a C string. */
function untilNul(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

/** `expr LIKE pattern` with a backslash as the escape, as SQLite answers it (E'' spells the backslash whatever standard_conforming_strings says). */
function like(expr: string, pattern: string): SQL {
  return sql`${sql.raw(fold(expr))} like ${foldParam(untilNul(pattern))} escape E'\\\\'`;
}

/** A text parameter, folded as `fold` folds a column. */
function foldParam(value: string): SQL {
  return sql`translate(${value}::text, ${sql.raw(`'${UPPER}', '${LOWER}'`)})`;
}

function where(q: string | undefined): SQL {
  const s = searchPatterns(q);
  if (!s) return sql``;
  return sql`where (${sql.join([like('h.mac', s.macPat), like('h.hostname', s.pat), like('h.notes', s.pat), like('p.name', s.pat), like(LABELS_TEXT, s.pat)], sql` or `)})`;
}

const num = (v: unknown): number => Number(v);

/** The UI queries over a PostgreSQL pool (drizzle over node-postgres). */
export function createPgUiQueries(db: PgDb): UiQueries {
  const rows = async <T = Record<string, unknown>>(q: Q, query: SQL): Promise<T[]> => (await q.execute(query)).rows as T[];

  async function details(q: Q, ids: number[]): Promise<HostRow[]> {
    if (!ids.length) return [];
    const found = await rows<Omit<DetailRow, 'labels' | 'discovered'> & { labels: string[]; discovered: boolean }>(
      q,
      sql`select h.id, h.mac, h.hostname, h.menu_mode, h.dhcp_mode, h.labels, h.discovered, h.last_seen,
                 p.name as profile, p.kind as profile_kind,
                 ${sql.raw(OPEN_TASK_ID)} as task_id, ${sql.raw(LAST_STATUS)} as last_status, ${sql.raw(LAST_RESULT)} as last_result,
                 ${sql.raw(STATUS)} as status
            ${sql.raw(FROM)}
           where h.id = any(${sql.param(ids)}::int[])`,
    );
    const taskIds = found.map((r) => r.task_id).filter((x): x is number => x !== null && x !== undefined).map(num);
    const tasks = new Map<number, { state: TaskState; profile: string }>();
    if (taskIds.length) {
      const trows = await rows<{ id: number; state: TaskState; profile: string }>(
        q,
        sql`select t.id, t.state, p.name as profile from tasks t join profiles p on p.id = t.profile_id where t.id = any(${sql.param(taskIds)}::int[])`,
      );
      for (const t of trows) tasks.set(num(t.id), { state: t.state, profile: t.profile });
    }
    return pageRows(ids, found, tasks);
  }

  async function taskCounts(q: Q = db): Promise<Record<string, number>> {
    const r = await rows<{ state: string; n: string }>(q, sql`select state, count(*) as n from tasks group by state order by state collate "C"`);
    return Object.fromEntries(r.map((x) => [x.state, num(x.n)]));
  }

  return {
    async hostsPage(opts: HostPageQuery) {
      const w = where(opts.q);
      const order = sql.raw(orderBy(opts.sort ?? 'mac', opts.dir ?? 'asc'));
      return db.transaction(async (tx) => {
        const [c] = await rows<{ n: string }>(tx, opts.q?.trim() ? sql`select count(*) as n ${sql.raw(FROM)} ${w}` : sql`select count(*) as n from hosts`);
        const ids = (await rows<{ id: number }>(tx, sql`select h.id ${sql.raw(FROM)} ${w} order by ${order} limit ${opts.limit} offset ${opts.offset}`)).map((r) => num(r.id));
        return { total: num(c!.n), rows: await details(tx, ids) };
      }, SNAPSHOT);
    },

    async lastClientIp(mac: string) {
      const [r] = await rows<{ client_ip: string }>(
        db,
        sql`select client_ip from boot_events where mac = ${mac} and client_ip is not null and kind <> 'dhcp' order by at desc, id desc limit 1`,
      );
      return r?.client_ip ?? undefined;
    },

    async macByHostname(name: string) {
      // No host name holds a NUL (SQLite would compare and find none; PostgreSQL refuses the parameter).
      if (name.includes('\0')) return undefined;
      const r = await rows<{ mac: string }>(db, sql`select mac from hosts where ${sql.raw(fold('hostname'))} collate "C" = ${foldParam(name)} order by mac collate "C" limit 2`);
      return r.length === 1 ? r[0]!.mac : undefined;
    },

    async previewCandidates(profileIds: number[], limit = 30) {
      const out = new Map<string, { mac: string; hostname: string | null }>();
      if (profileIds.length) {
        const ids = sql`${sql.param(profileIds)}::int[]`;
        const found = await rows<{ mac: string; hostname: string | null }>(
          db,
          sql`select h.mac, h.hostname from hosts h
               where h.profile_id = any(${ids})
                  or exists (select 1 from tasks t where t.host_id = h.id and t.state in ${sql.raw(OPEN_STATES)} and t.profile_id = any(${ids}))
               order by (h.last_seen is null), h.last_seen desc, h.mac collate "C" limit ${limit}`,
        );
        for (const r of found) out.set(r.mac, { mac: r.mac, hostname: r.hostname });
      }
      const recent = await rows<{ mac: string; hostname: string | null }>(db, sql`select mac, hostname from hosts order by (last_seen is null), last_seen desc, mac collate "C" limit ${limit}`);
      return mergeCandidates(
        out,
        recent.map((r) => ({ mac: r.mac, hostname: r.hostname })),
        limit,
      );
    },

    async hostProfiles(macs: string[]) {
      if (!macs.length) return new Map<string, string | null>();
      const r = await rows<{ mac: string; name: string | null }>(
        db,
        sql`select h.mac, p.name from hosts h left join profiles p on p.id = h.profile_id where h.mac = any(${sql.param(macs.filter((m) => !m.includes('\0')))}::text[]) order by h.mac collate "C"`,
      );
      return new Map(r.map((x) => [x.mac, x.name]));
    },

    async hostsPerProfile() {
      const r = await rows<{ id: number; n: string }>(db, sql`select profile_id as id, count(*) as n from hosts where profile_id is not null group by profile_id order by profile_id`);
      return new Map(r.map((x) => [num(x.id), num(x.n)]));
    },

    taskCounts: () => taskCounts(),

    async dashboard(since: number, now: number): Promise<DashboardFigures> {
      const hourAgo = now - 3_600_000;
      const [figures, tasks, transfer] = await Promise.all([
        rows<Record<'hosts' | 'discovered' | 'booted_today' | 'tasks_failed_today' | 'error_events_today', string>>(
          db,
          sql`select (select count(*) from hosts) as hosts,
                     (select count(*) from hosts where discovered) as discovered,
                     (select count(*) from hosts where last_seen >= ${since}) as booted_today,
                     (select count(*) from tasks where state in ('failed', 'expired') and finished_at >= ${since}) as tasks_failed_today,
                     (select count(*) from boot_events where at >= ${since} and status >= 400) as error_events_today`,
        ),
        taskCounts(),
        // Both windows in one scan. json_extract's sum: numbers only (a JSON string or object adds nothing).
        rows<{ via: string; n_today: string; bytes_today: string; n_hour: string; bytes_hour: string }>(
          db,
          sql`select via,
                     count(*) filter (where at >= ${since}) as n_today,
                     coalesce(sum(bytes) filter (where at >= ${since}), 0) as bytes_today,
                     count(*) filter (where at >= ${hourAgo}) as n_hour,
                     coalesce(sum(bytes) filter (where at >= ${hourAgo}), 0) as bytes_hour
                from (select case when kind = 'tftp' then 'tftp' else 'http' end as via, at,
                             case when jsonb_typeof(detail -> 'bytes') = 'number' then (detail ->> 'bytes')::numeric end as bytes
                        from boot_events
                       where at >= least(${since}::bigint, ${hourAgo}::bigint) and kind in ('tftp', 'asset', 'loader')) x
               group by via`,
        ),
      ]);
      const f = figures[0]!;
      return {
        hosts: num(f.hosts),
        discovered: num(f.discovered),
        bootedToday: num(f.booted_today),
        tasks,
        tasksFailedToday: num(f.tasks_failed_today),
        errorEventsToday: num(f.error_events_today),
        today: transfers(transfer.filter((r) => num(r.n_today) > 0).map((r) => ({ via: r.via, n: r.n_today, bytes: r.bytes_today }))),
        lastHour: transfers(transfer.filter((r) => num(r.n_hour) > 0).map((r) => ({ via: r.via, n: r.n_hour, bytes: r.bytes_hour }))),
      };
    },

    async recentFailures(since: number, limit: number): Promise<FailedEvent[]> {
      const r = await rows<FailedEvent>(
        db,
        sql`select id, at, mac, client_ip as "clientIp", kind, request, result, status from boot_events where at >= ${since} and status >= 400 order by at desc, id desc limit ${limit}`,
      );
      return r.map((e) => ({ id: num(e.id), at: num(e.at), mac: e.mac, clientIp: e.clientIp, kind: e.kind, request: e.request, result: e.result, status: num(e.status) }));
    },
  };
}

/**
 * What the two implementations of the UI's read models (queries.ts over
 * SQLite, queries-pg.ts over PostgreSQL) share: the interface, the row
 * types, the search patterns and the mapping of rows to what the pages show.
 */
import type { BootEvent, TaskState } from '../db/schema.js';

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

/** The dashboard's figures (see UiQueries.dashboard). */
export interface DashboardFigures {
  hosts: number;
  discovered: number;
  bootedToday: number;
  /** Tasks per state, all time. */
  tasks: Record<string, number>;
  tasksFailedToday: number;
  errorEventsToday: number;
  today: Transfers;
  lastHour: Transfers;
}

export interface Transfers {
  tftp: { transfers: number; bytes: number };
  http: { transfers: number; bytes: number };
}

/** A boot event that failed, as the dashboard lists it. */
export type FailedEvent = Pick<BootEvent, 'id' | 'at' | 'mac' | 'clientIp' | 'kind' | 'request' | 'result' | 'status'>;

/** The UI's read models, whichever database answers them. */
export interface UiQueries {
  /** One page of the host table, sorted and filtered in SQL; the count and the page come from one snapshot. */
  hostsPage(opts: HostPageQuery): Promise<{ total: number; rows: HostRow[] }>;
  /**
   * The address a host last made a request from, by boot_events_mac_at_idx.
   * DHCP events are left out: a relayed request's source is the relay, not the host.
   */
  lastClientIp(mac: string): Promise<string | undefined>;
  /** A host's MAC by its host name (ASCII case-insensitive), if exactly one host has it. */
  macByHostname(name: string): Promise<string | undefined>;
  /** Hosts to offer for a template preview: those whose profile (or open task's) uses it first, then the most recently seen. */
  previewCandidates(profileIds: number[], limit?: number): Promise<{ mac: string; hostname: string | null }[]>;
  /** The standing profile (or null) of each of these MACs that is a host; MACs that are not hosts are left out. */
  hostProfiles(macs: string[]): Promise<Map<string, string | null>>;
  /** Number of hosts per profile id (for the profile list). */
  hostsPerProfile(): Promise<Map<number, number>>;
  /** Tasks per state (all time). */
  taskCounts(): Promise<Record<string, number>>;
  /**
   * The dashboard's figures since `since` (local midnight) and over the last
   * hour before `now`. Throughput comes from the bytes the TFTP server and
   * the asset routes record in each transfer's boot event.
   */
  dashboard(since: number, now: number): Promise<DashboardFigures>;
  /** The newest boot events since `since` that failed (status ≥ 400); boot_events_at_idx bounds the scan. */
  recentFailures(since: number, limit: number): Promise<FailedEvent[]>;
}

/** q as a LIKE pattern (backslash escapes) that matches q literally: % and _ in a search are not wildcards. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (m) => '\\' + m)}%`;
}

/** The two patterns a search looks for: the text as typed, and as a MAC (lower case, - as :). Undefined: no search. */
export function searchPatterns(q: string | undefined): { pat: string; macPat: string } | undefined {
  const t = q?.trim();
  if (!t) return undefined;
  return { pat: likePattern(t), macPat: likePattern(t.toLowerCase().replace(/-/g, ':')) };
}

/** A details row as both databases give it, once labels and discovered are JavaScript values. */
export interface DetailRow {
  id: unknown;
  mac: unknown;
  hostname: unknown;
  menu_mode: unknown;
  dhcp_mode: unknown;
  labels: string[];
  discovered: boolean;
  last_seen: unknown;
  profile: unknown;
  profile_kind: unknown;
  task_id: unknown;
  last_status: unknown;
  last_result: unknown;
  status: unknown;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The page's rows in the order of `ids` (the sort), with their open tasks. */
export function pageRows(ids: number[], rows: DetailRow[], tasks: Map<number, { state: TaskState; profile: string }>): HostRow[] {
  const byId = new Map(
    rows.map((r) => {
      const taskId = num(r.task_id);
      const task = taskId !== null ? tasks.get(taskId) : undefined;
      const row: HostRow = {
        id: Number(r.id),
        mac: r.mac as string,
        hostname: (r.hostname as string | null) ?? null,
        profile: (r.profile as string | null) ?? null,
        profileKind: (r.profile_kind as string | null) ?? null,
        menuMode: r.menu_mode as HostRow['menuMode'],
        dhcpMode: r.dhcp_mode as HostRow['dhcpMode'],
        labels: r.labels,
        discovered: r.discovered,
        lastSeen: num(r.last_seen),
        taskId: task ? taskId : null,
        taskState: task?.state ?? null,
        taskProfile: task?.profile ?? null,
        lastStatus: num(r.last_status),
        lastResult: (r.last_result as string | null) ?? null,
        status: r.status as HostStatus,
      };
      return [row.id, row];
    }),
  );
  return ids.map((id) => byId.get(id)).filter((r): r is HostRow => !!r);
}

/** The preview's host list: the profile's hosts, then the most recently seen, at most 2 × limit. */
export function mergeCandidates(
  out: Map<string, { mac: string; hostname: string | null }>,
  recent: { mac: string; hostname: string | null }[],
  limit: number,
): { mac: string; hostname: string | null }[] {
  for (const r of recent) if (out.size < limit * 2 && !out.has(r.mac)) out.set(r.mac, r);
  return [...out.values()];
}

/** Transfer rows (per tftp/http) as the dashboard's figures. */
export function transfers(rows: { via: string; n: unknown; bytes: unknown }[]): Transfers {
  const out: Transfers = { tftp: { transfers: 0, bytes: 0 }, http: { transfers: 0, bytes: 0 } };
  for (const r of rows) if (r.via === 'tftp' || r.via === 'http') out[r.via] = { transfers: Number(r.n), bytes: Number(r.bytes) };
  return out;
}

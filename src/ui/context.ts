/**
 * What the admin UI is built from, and the small helpers every page uses.
 */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Admin } from '../admin.js';
import type { AsyncStore, AsyncTaskStore } from '../db/backend.js';
import type { BootService } from '../boot/service.js';
import type { Engine } from '../render/engine.js';
import type { EventLog } from '../boot/events.js';
import type { Flash, Session, SessionStore } from './session.js';
import type { UiQueries } from './queries.js';
import type { SiteAdmin } from '../sites/admin.js';
import type { SiteDirectory } from '../sites/store.js';

export interface UiDeps {
  admin: Admin;
  store: AsyncStore;
  /** The read models of the host table, the dashboard and the pickers (uiQueriesFor(backend)). */
  queries: UiQueries;
  boot: BootService;
  engine: Engine;
  tasks?: AsyncTaskStore;
  /**
   * Brings the engine's synchronous template view up to date (Backend.fresh),
   * for the template preview's own boot service; the boot service in `boot`
   * has its own. Absent: the view is as fresh as the last boot request made it.
   */
  fresh?: () => Promise<void>;
  events?: EventLog;
  /** Sites: their definitions (written through the admin, which refreshes the directory) and the address → site lookup the boot paths use. Absent: the Sites page says so. */
  sites?: { admin: SiteAdmin; directory: SiteDirectory };
  /** sha256 (hex) of the admin token, read on every request so a rotated token takes effect at once (and ends old sessions). */
  tokenSha256: () => string | Promise<string>;
  log: Logger;
  /** The base URL boot scripts point at: the draft preview renders with it, exactly as the boot service does. */
  baseUrl: string;
  /** The profile hosts without one boot (--default-profile), for the draft preview. */
  defaultProfile?: string;
  /** Mark cookies Secure even on plain-http requests (chainboot behind a TLS-terminating proxy). */
  secureCookies?: boolean;
  /** Where the UI is mounted; '/ui' unless told. */
  base?: string;
  now?: () => number;
}

export interface UiState {
  base: string;
  session: Session;
  csrf: string;
  path: string;
}

export type UiEnv = { Variables: { session: Session; ui: UiState } };
export type UiContext = Context<UiEnv>;

export interface Ui extends UiDeps {
  base: string;
  sessions: SessionStore;
  /** deps.queries */
  q: UiQueries;
  now: () => number;
}

export function flash(c: UiContext, kind: Flash['kind'], text: string): void {
  c.get('session').flash.push({ kind, text });
}

/** 08:00:27:4d:4d:aa → 08-00-27-4d-4d-aa, for paths. */
export function macPath(mac: string): string {
  return mac.replace(/:/g, '-');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Server-local "YYYY-MM-DD HH:MM:SS". */
export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function startOfToday(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** A same-UI path to go back to after a POST; anything else becomes `fallback`. */
export function safeReturn(base: string, value: unknown, fallback: string): string {
  if (typeof value !== 'string') return fallback;
  if (!value.startsWith(base + '/') && value !== base) return fallback;
  if (value.startsWith('//') || /[\\\r\n]/.test(value)) return fallback;
  return value;
}

/** A form field as one string (the first, when repeated). */
export function field(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : '';
  return typeof v === 'string' ? v : '';
}

/** A repeated form field (checkboxes, multi-selects) as strings. */
export function fields(body: Record<string, unknown>, name: string): string[] {
  const v = body[name] ?? body[name + '[]'];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

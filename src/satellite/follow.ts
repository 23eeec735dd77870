/**
 * What a satellite follows from the centre besides loaders: the hosts whose
 * proxyDHCP mode is not "follow" (ignore/loader), fetched with the last
 * ETag so an unchanged list costs a 304, and its site's overrides. A failed
 * refresh keeps what was last fetched: the centre being down changes
 * nothing here.
 */
import type { Logger } from '../log.js';
import type { HostMode } from '../dhcp/firmware.js';
import { describeZodError } from '../validate.js';
import { describeFetchError } from './health.js';
import { API_PREFIX, hostModesSchema, siteOverridesSchema, type SiteOverrides } from './protocol.js';

export interface FollowState {
  hosts: number;
  hostsEtag: string | null;
  hostsFetchedAt: number | null;
  site: SiteOverrides | null;
  siteFetchedAt: number | null;
  lastError: string | null;
}

export interface FollowOptions {
  upstream: string;
  token: string;
  site?: string;
  log: Logger;
  fetch?: typeof fetch;
  timeoutMs?: number;
  now?: () => number;
  /** The site's overrides changed (or went away: null). */
  onSite?: (site: SiteOverrides | null) => void;
}

export function createFollower(opts: FollowOptions) {
  const fetchFn = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers = { authorization: `Bearer ${opts.token}` };
  let modes = new Map<string, HostMode>();
  const state: FollowState = { hosts: 0, hostsEtag: null, hostsFetchedAt: null, site: null, siteFetchedAt: null, lastError: null };
  let siteJson = '';
  let warnedSite = false;

  async function refreshHosts(): Promise<void> {
    const res = await fetchFn(`${opts.upstream}${API_PREFIX}/hosts`, {
      headers: state.hostsEtag ? { ...headers, 'if-none-match': state.hostsEtag } : headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status === 304) {
      await res.body?.cancel().catch(() => {});
      state.hostsFetchedAt = now();
      return;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`GET ${API_PREFIX}/hosts answered ${res.status}`);
    }
    const parsed = hostModesSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`the centre's host list is refused: ${describeZodError(parsed.error)}`);
    const next = new Map<string, HostMode>();
    for (const h of parsed.data.hosts) next.set(h.mac, h.dhcpMode);
    if (next.size !== modes.size) opts.log.info({ hosts: next.size }, `host modes from the centre: ${next.size} host(s) with dhcpMode ignore/loader`);
    modes = next;
    state.hosts = next.size;
    state.hostsEtag = res.headers.get('etag');
    state.hostsFetchedAt = now();
  }

  async function refreshSite(): Promise<void> {
    if (!opts.site) return;
    const res = await fetchFn(`${opts.upstream}${API_PREFIX}/site/${encodeURIComponent(opts.site)}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      if (!warnedSite) opts.log.warn(`site "${opts.site}" does not exist at the centre: this satellite runs with its own loader and menu settings`);
      warnedSite = true;
      if (state.site) {
        state.site = null;
        siteJson = '';
        opts.onSite?.(null);
      }
      state.siteFetchedAt = now();
      return;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`GET ${API_PREFIX}/site/${opts.site} answered ${res.status}`);
    }
    const parsed = siteOverridesSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`site "${opts.site}" from the centre is refused: ${describeZodError(parsed.error)}`);
    warnedSite = false;
    state.siteFetchedAt = now();
    const json = JSON.stringify(parsed.data);
    if (json === siteJson) return;
    siteJson = json;
    state.site = parsed.data;
    opts.onSite?.(parsed.data);
  }

  return {
    state,
    /** proxyDHCP's hostLookup: a host the centre set to ignore/loader, else undefined (the default mode). */
    lookup(mac: string): { dhcpMode: HostMode } | undefined {
      const m = modes.get(mac);
      return m ? { dhcpMode: m } : undefined;
    },
    /** Both refreshes; a failure is kept in state.lastError and logged only when it changes. */
    async refresh(): Promise<boolean> {
      try {
        await refreshHosts();
        await refreshSite();
        state.lastError = null;
        return true;
      } catch (err) {
        const error = describeFetchError(err, timeoutMs);
        if (error !== state.lastError) opts.log.warn({ error }, `host modes / site overrides not refreshed, keeping the last ones: ${error}`);
        state.lastError = error;
        return false;
      }
    },
  };
}
export type Follower = ReturnType<typeof createFollower>;

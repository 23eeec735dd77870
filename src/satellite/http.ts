/**
 * The satellite's small HTTP server: /boot.ipxe (chain to the centre, or the
 * local disk while it is down), the local loader copies under /loaders/:name
 * (UEFI HTTP Boot clients are pointed there), /healthz, /readyz, /metrics.
 * Every answer comes from memory or the local disk: nothing here waits on
 * the WAN.
 */
import { Hono } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log.js';
import { clientIp } from '../http/client-ip.js';
import { fileRoutes } from '../http/routes/files.js';
import { readiness, type ReadinessChecks } from '../metrics/http.js';
import type { EventForwarder } from './forwarder.js';
import type { UpstreamHealth } from './health.js';
import type { LoaderSync } from './loader-sync.js';
import type { Follower } from './follow.js';
import { satelliteEntryScript } from './script.js';

export interface SatelliteAppDeps {
  upstream: string;
  site?: string;
  health: UpstreamHealth;
  loaders: LoaderSync;
  follow: Follower;
  events: EventForwarder;
  loaderDir: string;
  log: Logger;
  /** Listener states (TFTP, proxyDHCP) for /readyz. */
  listeners: () => ReadinessChecks;
  /** The MAC behind a client address (learnt by proxyDHCP), and its boot id. */
  macForIp?: (ip: string | undefined) => string | undefined;
  bootForIp?: (ip: string | undefined) => string | undefined;
  /** When it gives a token, GET /metrics wants "Authorization: Bearer <token>" (as the centre's metricsToken). */
  metricsToken?: () => string | undefined;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function satelliteApp(deps: SatelliteAppDeps): Hono {
  const app = new Hono();
  /** The centre's URL as this site reaches it: the site's boot URL when the centre gives one. */
  const target = () => deps.follow.state.site?.bootBaseUrl || deps.upstream;
  const macForIp = (ip: string | undefined) => deps.macForIp?.(ip) ?? (ip ? deps.events.macForIp(ip) : undefined);

  app.get('/boot.ipxe', (c) => {
    const h = deps.health.state;
    const ip = clientIp(c);
    const s = satelliteEntryScript({ up: h.up, target: target(), reason: h.lastError });
    deps.events.record({
      mac: macForIp(ip) ?? null,
      clientIp: ip ?? null,
      kind: 'entry',
      request: '/boot.ipxe',
      result: s.failSafe ? `local disk: centre unreachable (${h.lastError ?? 'unknown'})` : `chain ${target()}/boot.ipxe`,
      status: 200,
      detail: { failSafe: s.failSafe, ...(deps.bootForIp?.(ip) ? { boot: deps.bootForIp(ip) } : {}) },
    });
    return c.body(s.body, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  });

  app.route('/', fileRoutes({ assetRoot: `${deps.loaderDir}/.no-assets`, loaderRoot: deps.loaderDir, events: deps.events, macForIp }));

  app.get('/healthz', (c) => {
    const h = deps.health.state;
    return c.json(
      {
        ok: true,
        role: 'satellite',
        site: deps.site ?? null,
        upstream: { url: deps.upstream, entry: target(), up: h.up, since: iso(h.since), lastCheck: iso(h.lastCheck), lastError: h.lastError },
        loaderSync: { ...deps.loaders.state, lastSync: iso(deps.loaders.state.lastSync), lastSuccess: iso(deps.loaders.state.lastSuccess) },
        hosts: { count: deps.follow.state.hosts, etag: deps.follow.state.hostsEtag, fetchedAt: iso(deps.follow.state.hostsFetchedAt), lastError: deps.follow.state.lastError },
        siteOverrides: deps.follow.state.site,
        events: deps.events.stats,
      },
      200,
      { 'Cache-Control': 'no-store' },
    );
  });

  const ready = readiness(undefined, () => {
    const h = deps.health.state;
    return {
      upstream: h.up ? true : `centre unreachable: clients are sent to their local disk (${h.lastError ?? 'no answer'})`,
      ...deps.listeners(),
    };
  });
  app.get('/readyz', async (c) => {
    const r = await ready();
    return c.json(r, r.ready ? 200 : 503, { 'Cache-Control': 'no-store' });
  });

  const digest = (t: string) => createHash('sha256').update(t, 'utf8').digest();
  app.get('/metrics', (c) => {
    const token = deps.metricsToken?.();
    if (token) {
      const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !timingSafeEqual(digest(m[1]!), digest(token))) return c.text('authentication required: send "Authorization: Bearer <metrics token>"\n', 401, { 'WWW-Authenticate': 'Bearer realm="chainboot-metrics"' });
    }
    const h = deps.health.state;
    const l = deps.loaders.state;
    const e = deps.events.stats;
    const lines = [
      '# HELP chainboot_satellite_upstream_up 1 while the centre answers its /healthz, else 0 (clients boot their local disk).',
      '# TYPE chainboot_satellite_upstream_up gauge',
      `chainboot_satellite_upstream_up ${h.up ? 1 : 0}`,
      '# HELP chainboot_satellite_loader_downloads_total Loaders downloaded from the centre and installed.',
      '# TYPE chainboot_satellite_loader_downloads_total counter',
      `chainboot_satellite_loader_downloads_total ${l.downloaded}`,
      '# HELP chainboot_satellite_loader_refused_total Loader downloads refused (size or sha256 differed, or the transfer failed).',
      '# TYPE chainboot_satellite_loader_refused_total counter',
      `chainboot_satellite_loader_refused_total ${l.refused}`,
      '# HELP chainboot_satellite_events_dropped_total Boot events dropped because the centre did not take them.',
      '# TYPE chainboot_satellite_events_dropped_total counter',
      `chainboot_satellite_events_dropped_total ${e.dropped}`,
      '# HELP chainboot_satellite_events_queued Boot events waiting for the centre.',
      '# TYPE chainboot_satellite_events_queued gauge',
      `chainboot_satellite_events_queued ${e.queued}`,
      '',
    ];
    return c.body(lines.join('\n'), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  app.notFound((c) => c.text('not found\n', 404));
  app.onError((err, c) => {
    deps.log.error({ err, path: c.req.path }, 'request failed');
    return c.text('internal error (logged)\n', 500);
  });
  return app;
}

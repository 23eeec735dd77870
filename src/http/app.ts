/**
 * createApp(deps) → Hono. Never listens itself: main.ts does that, tests
 * call app.request() or listen on an ephemeral port.
 */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import type { Logger } from 'pino';
import { bootRoutes } from './routes/boot.js';
import { fileRoutes } from './routes/files.js';
import { apiRoutes } from './routes/api.js';
import { taskCallbackRoutes } from './routes/tasks.js';
import { uiRoutes } from '../ui/index.js';
import type { Engine } from '../render/engine.js';
import type { BootService } from '../boot/service.js';
import type { Admin } from '../admin.js';
import type { AsyncStore, AsyncTaskStore, Backend } from '../db/backend.js';
import { uiQueriesFor } from '../ui/queries.js';
import type { EventLog } from '../boot/events.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { describeZodError } from '../validate.js';
import { clientIp } from './client-ip.js';
import type { SiteAdmin } from '../sites/admin.js';
import type { SiteDirectory } from '../sites/store.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { httpMetrics, metricsHandler, readiness, type ReadinessChecks } from '../metrics/http.js';
import { satelliteRoutes } from './routes/satellite.js';
import type { Site } from '../db/schema.js';

export interface AppDeps {
  boot: BootService;
  admin: Admin;
  store: AsyncStore;
  events?: EventLog;
  tasks?: AsyncTaskStore;
  /** The database: readiness pings it, /metrics counts tasks in it, the UI and satellites read from it. */
  backend: Backend;
  log: Logger;
  assetRoot: string;
  loaderRoot: string;
  /** sha256 (hex) of the admin token; a function so a rotated token takes effect at once. */
  tokenSha256: () => string | Promise<string>;
  /** For the admin UI's live preview: renders exactly as the boot service does. */
  engine: Engine;
  baseUrl: string;
  defaultProfile?: string;
  /** Mark UI cookies Secure on plain http (behind a TLS-terminating proxy). */
  secureCookies?: boolean;
  now?: () => number;
  /** The service's metrics (main.ts makes them, to hand DHCP/TFTP counters in later); made here when not given. */
  metrics?: Metrics;
  /** When set, GET /metrics wants "Authorization: Bearer <metricsToken>"; unset, it is open (scrapers on the boot LAN). A function is asked per scrape (reload). */
  metricsToken?: string | (() => string | undefined);
  /** Readiness inputs beyond the database (main.ts: are the enabled DHCP/TFTP listeners bound?). */
  readiness?: () => ReadinessChecks;
  /** Sites for /api/v1/sites and the UI; absent in tests that do not need them. */
  sites?: { admin: SiteAdmin; directory: SiteDirectory };
  /**
   * The API site satellites use (/satellite/v1): the shared token (asked per
   * request; empty = off, 404) and a site by name. Absent: not mounted.
   */
  satellite?: { token: () => string | undefined; site: (name: string) => Promise<Site | undefined> };
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const metrics = deps.metrics ?? createMetrics({ taskCounts: () => deps.backend.taskCounts(), boot: deps.boot, events: deps.events });
  const boots = deps.boot.boots;

  // First, so it sees every request and the route that answered it.
  app.use('*', httpMetrics(metrics, { log: deps.log, bootFor: (ip) => boots.peek(undefined, ip) }));
  // Liveness: the process answers. Readiness: it can serve boots now.
  app.get('/healthz', (c) => c.json({ ok: true }));
  const ready = readiness(() => deps.backend.ping(), deps.readiness);
  app.get('/readyz', async (c) => {
    const r = await ready();
    return c.json(r, r.ready ? 200 : 503, { 'Cache-Control': 'no-store' });
  });
  app.get('/metrics', metricsHandler(metrics, deps.metricsToken));
  /*
   * Steps that carry no boot id of their own (assets and loaders by address,
   * task callbacks by MAC) get the machine's current one in their event.
   */
  const inner = deps.events;
  const events: EventLog | undefined =
    inner &&
    Object.assign(Object.create(inner) as EventLog, {
      record(e: Parameters<EventLog['record']>[0], facts?: Record<string, string>, key?: string) {
        const ip = e.clientIp ?? undefined;
        const boot = e.mac ? boots.step(e.mac, ip) : boots.forIp(ip);
        if (boot !== undefined) e.detail = { ...e.detail, boot };
        inner.record(e, facts, key);
      },
    });
  app.route('/', bootRoutes(deps.boot));
  if (deps.tasks) app.route('/', taskCallbackRoutes({ tasks: deps.tasks, events }));
  app.route('/', fileRoutes({ assetRoot: deps.assetRoot, loaderRoot: deps.loaderRoot, events, macForIp: (ip) => deps.boot.macForIp(ip), onStream: metrics.stream }));
  app.get('/', (c) => c.redirect('/ui/'));
  app.route(
    '/ui',
    uiRoutes({
      admin: deps.admin,
      store: deps.store,
      queries: uiQueriesFor(deps.backend),
      fresh: () => deps.backend.fresh(),
      boot: deps.boot,
      engine: deps.engine,
      tasks: deps.tasks,
      events: deps.events,
      sites: deps.sites,
      tokenSha256: deps.tokenSha256,
      log: deps.log,
      baseUrl: deps.baseUrl,
      get defaultProfile() {
        return deps.defaultProfile;
      },
      secureCookies: deps.secureCookies,
      now: deps.now,
    }),
  );
  if (deps.satellite) {
    app.route('/satellite/v1', satelliteRoutes({ hostModes: () => deps.backend.dhcpOverrides(), loaderRoot: deps.loaderRoot, token: deps.satellite.token, site: deps.satellite.site, events: deps.events, now: deps.now }));
  }
  app.route('/api/v1', apiRoutes({ admin: deps.admin, store: deps.store, fresh: () => deps.backend.fresh(), boot: deps.boot, events: deps.events, tokenSha256: deps.tokenSha256, sites: deps.sites }));

  app.notFound((c) => (c.req.path.startsWith('/api/') ? c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404) : c.text('not found\n', 404)));
  app.onError((err, c) => {
    const api = c.req.path.startsWith('/api/');
    const answer = (status: 400 | 404 | 405 | 409 | 500, message: string) =>
      api ? c.json({ error: message }, status) : c.text(message + '\n', status);
    if (err instanceof HTTPException) return answer(err.status as 400, err.message);
    if (err instanceof InvalidInputError) return answer(400, err.message);
    if (err instanceof ZodError) return answer(400, describeZodError(err));
    if (err instanceof NotFoundError) return answer(404, err.message);
    if (err instanceof ConflictError) return answer(409, err.message);
    deps.log.error({ err, path: c.req.path, method: c.req.method, boot: boots.peek(undefined, clientIp(c)) }, 'request failed');
    return answer(500, 'internal error (logged)');
  });
  return app;
}

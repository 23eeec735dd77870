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
import type { TaskStore } from '../tasks/store.js';
import type { BootService } from '../boot/service.js';
import type { Admin } from '../admin.js';
import type { Store } from '../db/store.js';
import type { EventLog } from '../boot/events.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { describeZodError } from '../validate.js';

export interface AppDeps {
  boot: BootService;
  admin: Admin;
  store: Store;
  events?: EventLog;
  tasks?: TaskStore;
  log: Logger;
  assetRoot: string;
  loaderRoot: string;
  /** sha256 (hex) of the admin token; a function so a rotated token takes effect at once. */
  tokenSha256: () => string;
  /** For the admin UI's live preview: renders exactly as the boot service does. */
  engine: Engine;
  baseUrl: string;
  defaultProfile?: string;
  /** Mark UI cookies Secure on plain http (behind a TLS-terminating proxy). */
  secureCookies?: boolean;
  now?: () => number;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.route('/', bootRoutes(deps.boot));
  if (deps.tasks) app.route('/', taskCallbackRoutes({ tasks: deps.tasks, events: deps.events }));
  app.route('/', fileRoutes({ assetRoot: deps.assetRoot, loaderRoot: deps.loaderRoot, events: deps.events, macForIp: (ip) => deps.boot.macForIp(ip) }));
  app.get('/', (c) => c.redirect('/ui/'));
  app.route(
    '/ui',
    uiRoutes({
      admin: deps.admin,
      store: deps.store,
      boot: deps.boot,
      engine: deps.engine,
      tasks: deps.tasks,
      events: deps.events,
      tokenSha256: deps.tokenSha256,
      log: deps.log,
      baseUrl: deps.baseUrl,
      defaultProfile: deps.defaultProfile,
      secureCookies: deps.secureCookies,
      now: deps.now,
    }),
  );
  app.route('/api/v1', apiRoutes({ admin: deps.admin, store: deps.store, boot: deps.boot, events: deps.events, tokenSha256: deps.tokenSha256 }));

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
    deps.log.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    return answer(500, 'internal error (logged)');
  });
  return app;
}

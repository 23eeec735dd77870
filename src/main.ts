/**
 * Wiring: config → db → services → listeners; closes everything on SIGTERM/SIGINT.
 */
import { serve as serveHttp, type ServerType } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from './config.js';
import { resolveBaseUrl } from './config.js';
import { openDb, type Db } from './db/client.js';
import { createStore, type Store } from './db/store.js';
import { createEngine, type Engine } from './render/engine.js';
import { createBootService, type BootService } from './boot/service.js';
import { createEventLog, type EventLog } from './boot/events.js';
import { eventWorkerAvailable, startEventWriter } from './boot/event-writer.js';
import { createAdmin, type Admin } from './admin.js';
import { createTaskStore, type TaskStore } from './tasks/store.js';
import { createApp } from './http/app.js';
import { tokenHash } from './http/routes/api.js';
import { loaderReport } from './boot/loaders.js';
import { explainBindError } from './net/bind.js';
import { createProxyDhcpServer, type ProxyDhcpServer } from './dhcp/server.js';
import { parseDhcpSettings } from './dhcp/settings.js';
import { createTftpServer, type TftpServer } from './tftp/server.js';
import { parseTftpSettings } from './tftp/settings.js';
import { shippedTemplatesDir } from './paths.js';
import type { Logger } from './log.js';
import { resolve } from 'node:path';

export interface Services {
  db: Db;
  store: Store;
  events: EventLog;
  tasks: TaskStore;
  engine: Engine;
  boot: BootService;
  admin: Admin;
  app: ReturnType<typeof createApp>;
  baseUrl: string;
}

export interface BuildOptions {
  /** Default: <dataDir>/chainboot.db; ':memory:' for tests. */
  dbFile?: string;
  baseUrl?: string;
  /** Write boot events from a worker thread (serve), not in-thread (tests, CLI). */
  eventWorker?: boolean;
  eventIntervalMs?: number;
  /** The clock of the store and the tasks (tests move it). */
  now?: () => number;
}

/** The admin token's hash; a token is generated (and shown once) on first start. */
export function ensureAdminToken(store: Store, cfg: Config, log: Logger): string {
  if (cfg.adminToken) return tokenHash(cfg.adminToken);
  const stored = store.getSetting('admin_token_sha256');
  if (stored) return stored;
  const token = randomBytes(24).toString('base64url');
  const hash = tokenHash(token);
  store.setSetting('admin_token_sha256', hash);
  // Shown once, on stderr, and never stored in clear: keep it now.
  process.stderr.write(`\nchainboot: generated an admin token for /api (shown only this once):\n\n    ${token}\n\nUse it as "Authorization: Bearer ${token}". Rotate with "chainboot token --rotate".\n\n`);
  log.warn('generated a new admin token (printed above, stored only as a hash)');
  return hash;
}

export function buildServices(cfg: Config, log: Logger, opts: BuildOptions = {}): Services {
  const dbFile = opts.dbFile ?? join(cfg.dataDir, 'chainboot.db');
  const db = openDb(dbFile);
  const store = createStore(db, opts.now);
  const baseUrl = opts.baseUrl ?? resolveBaseUrl(cfg);
  const templateDir = cfg.templateDir === './templates' ? shippedTemplatesDir : resolve(cfg.templateDir);
  const engine = createEngine({ store, shippedDir: templateDir });
  const onError = (err: unknown) => log.error({ err }, 'writing boot events failed');
  const useWorker = opts.eventWorker && dbFile !== ':memory:';
  if (useWorker && !eventWorkerAvailable) log.info('running from TypeScript sources: boot events are written in-thread (the worker thread needs the built dist/)');
  const writer = useWorker && eventWorkerAvailable ? startEventWriter(dbFile, onError) : undefined;
  const events = createEventLog({ store, writer, onError, intervalMs: opts.eventIntervalMs });
  const tasks = createTaskStore(db, () => taskSecret(store), opts.now);
  const boot = createBootService({ store, engine, events, baseUrl, defaultProfile: cfg.defaultProfile || undefined, tasks });
  const admin = createAdmin({ store, engine, tasks });
  let hash = ensureAdminToken(store, cfg, log);
  const app = createApp({
    boot,
    admin,
    store,
    events,
    tasks,
    log,
    assetRoot: cfg.assetRoot,
    loaderRoot: cfg.loaderRoot,
    tokenSha256: () => (cfg.adminToken ? hash : (hash = store.getSetting('admin_token_sha256') ?? hash)),
    engine,
    baseUrl,
    defaultProfile: cfg.defaultProfile || undefined,
    secureCookies: cfg.uiSecureCookies === 'on',
    now: opts.now,
  });
  if (cfg.defaultProfile && !store.getProfile(cfg.defaultProfile)) log.warn(`defaultProfile "${cfg.defaultProfile}" does not exist yet: unknown hosts boot locally until it is created`);
  return { db, store, events, tasks, engine, boot, admin, app, baseUrl };
}

/** The key task tokens are made with: random, made once, kept in the database. */
export function taskSecret(store: Store): string {
  let secret = store.getSetting('task_token_key');
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    store.setSetting('task_token_key', secret);
  }
  return secret;
}

export async function serve(cfg: Config, log: Logger): Promise<{ close: () => Promise<void>; port: number }> {
  // Bind first: with --http-port 0 the base URL scripts point at needs the
  // port the kernel picked. Requests cannot arrive before the services exist,
  // since the handler is set before the listen callback returns control.
  let handler: typeof s.app.fetch | null = null;
  const server: ServerType = await new Promise((ok, fail) => {
    const srv = serveHttp(
      { fetch: (req, env) => (handler ? handler(req, env) : new Response('starting\n', { status: 503 })), hostname: cfg.httpHost, port: cfg.httpPort },
      () => ok(srv),
    );
    srv.once('error', (err: NodeJS.ErrnoException) => fail(new Error(explainBindError(err, 'tcp', cfg.httpPort))));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.httpPort;
  let s: Services;
  try {
    s = buildServices({ ...cfg, httpPort: port }, log, { eventWorker: true });
  } catch (err) {
    server.close();
    throw err;
  }
  // The Node request/response pair travels in env: getConnInfo needs it.
  handler = s.app.fetch;
  for (const l of loaderReport(cfg.loaderRoot)) {
    if (l.path) log.info({ loader: l.name, path: l.path }, `loader ${l.name} found`);
    else log.warn({ loader: l.name }, `loader ${l.name} not found in ${cfg.loaderRoot} or the system paths: ${l.provider}`);
  }
  log.info({ baseUrl: s.baseUrl, port }, `HTTP listening on ${cfg.httpHost}:${port}; iPXE clients start at ${s.baseUrl}/boot.ipxe`);
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(s.baseUrl)) log.warn(`the base URL ${s.baseUrl} is a loopback address: other machines cannot fetch from it (set advertiseIp or baseUrl)`);

  let tftp: TftpServer | null = null;
  if (cfg.tftp === 'on') {
    tftp = createTftpServer({
      root: cfg.loaderRoot,
      port: cfg.tftpPort,
      ...parseTftpSettings(cfg).value,
      baseUrl: s.baseUrl,
      log: log.child({ svc: 'tftp' }),
      events: s.events,
      macForIp: (ip) => s.boot.macForIp(ip),
    });
    try {
      await tftp.listen(); // logs where it listens, and why when it fell back
    } catch (err) {
      log.error(`TFTP not running: ${(err as Error).message}`);
      tftp = null;
    }
  }

  let dhcp: ProxyDhcpServer | null = null;
  if (cfg.dhcp === 'on') {
    const d = parseDhcpSettings(cfg).value;
    dhcp = createProxyDhcpServer({
      port: cfg.dhcpPort,
      proxyPort: cfg.proxyDhcpPort,
      bindAddress: d.bindAddress,
      advertiseIp: d.advertiseIp,
      httpBaseUrl: s.baseUrl,
      loaders: d.loaders,
      defaultMode: d.defaultMode,
      hostLookup: (mac) => s.store.hostAndProfile(mac).host,
      log: log.child({ svc: 'dhcp' }),
      events: s.events,
      replyDelayMs: d.replyDelayMs,
      extraVendorClasses: d.extraVendorClasses,
      macPrefixArch: d.macPrefixArch,
      junkUuidFallback: d.junkUuidFallback,
      answerWithoutUuid: d.answerWithoutUuid,
      menu: d.menu,
      rateLimit: d.rateLimit,
    });
    try {
      // Throws only when neither 67 nor 4011 binds; a 67 failure alone is logged with its fix.
      await dhcp.listen();
    } catch (err) {
      log.error(`proxyDHCP not running: ${(err as Error).message}`);
      dhcp = null;
    }
  }

  // Tasks served but never checked in (or past their expiry) are marked expired.
  const limits = { checkinTimeoutMs: cfg.taskCheckinTimeout * 1000, runTimeoutMs: cfg.taskRunTimeout * 1000 };
  const sweep = () => {
    try {
      for (const t of s.tasks.sweep(limits)) log.info({ task: t.id, message: t.message }, `task ${t.id} expired: ${t.message}`);
    } catch (err) {
      log.error({ err }, 'task sweep failed');
    }
  };
  sweep();
  const sweeper = setInterval(sweep, 30_000);
  sweeper.unref();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= new Promise<void>((done) => {
      clearInterval(sweeper);
      server.close(async () => {
        await Promise.all([dhcp?.close(), tftp?.close()]);
        void s.events.close().finally(() => {
          s.db.$client.close();
          done();
        });
      });
      // Idle keep-alive connections would hold close() open.
      (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    }));
  return { close, port };
}

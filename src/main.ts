/**
 * Wiring: config → db → services → listeners; closes everything on SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from './config.js';
import { resolveBaseUrl } from './config.js';
import { openBackend, type AsyncSiteStore, type AsyncStore, type AsyncTaskStore, type Backend } from './db/backend.js';
import { createEngine, type Engine } from './render/engine.js';
import { createBootService, type BootService } from './boot/service.js';
import { createEventLog, type EventLog } from './boot/events.js';
import { eventWorkerAvailable, startEventWriter } from './boot/event-writer.js';
import { createAdmin, type Admin } from './admin.js';
import { createApp } from './http/app.js';
import { tokenHash } from './http/routes/api.js';
import { loaderReport } from './boot/loaders.js';
import { createProxyDhcpServer, type ProxyDhcpServer, type SitePolicy } from './dhcp/server.js';
import { parseDhcpSettings } from './dhcp/settings.js';
import { createTftpServer, type TftpServer } from './tftp/server.js';
import { parseTftpSettings } from './tftp/settings.js';
import { listenHttp } from './http/listen.js';
import { shippedTemplatesDir } from './paths.js';
import type { Logger } from './log.js';
import { resolve } from 'node:path';
import { beginReload, reloadSummary, type CutResponse } from './lifecycle.js';
import { retentionWorkerAvailable, startRetentionWorker, type RetentionResult, type RetentionRunner } from './db/retention.js';
import { writePidFile } from './db/backup.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import type { ReadinessChecks } from './metrics/http.js';
import { createSiteDirectory, type SiteDirectory } from './sites/store.js';
import { createSiteAdmin, type SiteAdmin } from './sites/admin.js';
import { createAssetVersions } from './sites/asset-version.js';

export interface Services {
  /** The database (SQLite or PostgreSQL) the stores below are over. */
  backend: Backend;
  store: AsyncStore;
  events: EventLog;
  tasks: AsyncTaskStore;
  engine: Engine;
  boot: BootService;
  admin: Admin;
  app: ReturnType<typeof createApp>;
  metrics: Metrics;
  baseUrl: string;
  sites: { store: AsyncSiteStore; directory: SiteDirectory; admin: SiteAdmin };
  /** A reload (SIGHUP) changes these for the requests that follow. */
  live: { setDefaultProfile(name: string): void; setAdminToken(token: string): Promise<void>; setMetricsToken(token: string): void; setSatelliteToken(token: string): void };
}

export interface BuildOptions {
  /** Default: <dataDir>/chainboot.db; ':memory:' for tests. Not used when cfg.databaseUrl names PostgreSQL. */
  dbFile?: string;
  /** An open backend to build on (tests): dbFile and cfg.databaseUrl are then not used. */
  backend?: Backend;
  baseUrl?: string;
  /** Write boot events from a worker thread (serve), not in-thread (tests, CLI). */
  eventWorker?: boolean;
  eventIntervalMs?: number;
  /** The clock of the store and the tasks (tests move it). */
  now?: () => number;
  /** Node.js process metrics (CPU, memory, fds, event-loop delay, GC) on /metrics: serve only. */
  processMetrics?: boolean;
  /** /readyz inputs beyond the database: serve's listeners. */
  readiness?: () => ReadinessChecks;
}

/** The admin token's hash; a token is generated (and shown once) on first start. */
export async function ensureAdminToken(store: AsyncStore, cfg: Config, log: Logger): Promise<string> {
  if (cfg.adminToken) return tokenHash(cfg.adminToken);
  const stored = await store.getSetting('admin_token_sha256');
  if (stored) return stored;
  const token = randomBytes(24).toString('base64url');
  const hash = tokenHash(token);
  await store.setSetting('admin_token_sha256', hash);
  // Shown once, on stderr, and never stored in clear: keep it now.
  process.stderr.write(`\nchainboot: generated an admin token for /api (shown only this once):\n\n    ${token}\n\nUse it as "Authorization: Bearer ${token}". Rotate with "chainboot token --rotate".\n\n`);
  log.warn('generated a new admin token (printed above, stored only as a hash)');
  return hash;
}

export async function buildServices(cfg: Config, log: Logger, opts: BuildOptions = {}): Promise<Services> {
  const dbFile = opts.dbFile ?? join(cfg.dataDir, 'chainboot.db');
  const backend = opts.backend ?? (await openBackend({ databaseUrl: cfg.databaseUrl, file: dbFile, now: opts.now }));
  try {
    return await buildOn(backend, cfg, log, opts);
  } catch (err) {
    if (!opts.backend) await backend.close();
    throw err;
  }
}

async function buildOn(backend: Backend, cfg: Config, log: Logger, opts: BuildOptions): Promise<Services> {
  const { store, tasks } = backend;
  const baseUrl = opts.baseUrl ?? resolveBaseUrl(cfg);
  const templateDir = cfg.templateDir === './templates' ? shippedTemplatesDir : resolve(cfg.templateDir);
  const engine = createEngine({ store: backend.templates, shippedDir: templateDir });
  const onError = (err: unknown) => log.error({ err }, 'writing boot events failed');
  // SQLite: a worker thread writes the events over its own connection (serve); PostgreSQL: the pool takes them in-thread.
  const sqliteFile = backend.sqlite?.file;
  const useWorker = opts.eventWorker && sqliteFile !== undefined && sqliteFile !== ':memory:';
  if (useWorker && !eventWorkerAvailable) log.info('running from TypeScript sources: boot events are written in-thread (the worker thread needs the built dist/)');
  const writer = useWorker && eventWorkerAvailable ? startEventWriter(sqliteFile, onError) : { write: (e: Parameters<Backend['writeEvents']>[0], seen: Parameters<Backend['writeEvents']>[1]) => backend.writeEvents(e, seen) };
  const events = createEventLog({ writer, onError, intervalMs: opts.eventIntervalMs });
  const siteStore = backend.sites;
  // PostgreSQL's site list is in memory and current after fresh(): asked on every request. SQLite's is read at most once a second.
  const siteDirectory = createSiteDirectory(() => backend.siteList(), { ttlMs: backend.kind === 'postgres' ? 0 : 1000, onError: (err) => log.error({ err }, 'reading the site list failed: keeping the last one') });
  const sites = { store: siteStore, directory: siteDirectory, admin: createSiteAdmin(siteStore, siteDirectory) };
  const assetVersion = createAssetVersions(cfg.assetRoot);
  const fresh = () => backend.fresh();
  // Kept: the boot service reads defaultProfile from it on every boot, so a reload can change it.
  const bootDeps = { store, engine, fresh, events, baseUrl, defaultProfile: cfg.defaultProfile || undefined, tasks, sites: siteDirectory, assetVersion, now: opts.now };
  const boot = createBootService(bootDeps);
  const metrics = createMetrics({ taskCounts: () => backend.taskCounts(), boot, events, processMetrics: opts.processMetrics });
  const admin = createAdmin({ store, engine, tasks, fresh });
  let hash = await ensureAdminToken(store, cfg, log);
  let adminToken = cfg.adminToken;
  let metricsToken = cfg.metricsToken;
  let satelliteToken = cfg.satelliteToken;
  const app = createApp({
    boot,
    admin,
    store,
    backend,
    events,
    tasks,
    log,
    assetRoot: cfg.assetRoot,
    loaderRoot: cfg.loaderRoot,
    // The stored hash is read per request: a rotation (CLI, another node) takes effect at once.
    tokenSha256: async () => (adminToken ? hash : (hash = (await store.getSetting('admin_token_sha256')) ?? hash)),
    engine,
    baseUrl,
    // Read on use: a reload (SIGHUP) changes it for the UI as for boots.
    get defaultProfile() {
      return bootDeps.defaultProfile;
    },
    secureCookies: cfg.uiSecureCookies === 'on',
    now: opts.now,
    metrics,
    metricsToken: () => metricsToken || undefined,
    readiness: opts.readiness,
    sites,
    // /satellite/v1 for site satellites: off (404) while no satelliteToken is set.
    satellite: { token: () => satelliteToken || undefined, site: (name) => siteStore.get(name) },
  });
  if (cfg.defaultProfile && !(await store.getProfile(cfg.defaultProfile))) log.warn(`defaultProfile "${cfg.defaultProfile}" does not exist yet: unknown hosts boot locally until it is created`);
  const live = {
    setDefaultProfile(name: string) {
      bootDeps.defaultProfile = name || undefined;
    },
    setMetricsToken(token: string) {
      metricsToken = token;
    },
    setSatelliteToken(token: string) {
      satelliteToken = token;
    },
    async setAdminToken(token: string) {
      adminToken = token;
      hash = token ? tokenHash(token) : ((await store.getSetting('admin_token_sha256')) ?? (await ensureAdminToken(store, { ...cfg, adminToken: '' }, log)));
    },
  };
  return { backend, store, events, tasks, engine, boot, admin, app, metrics, baseUrl, sites, live };
}

export interface ServeOptions {
  /** Loads the configuration again (the file and the environment; flags stay) for a reload. */
  reloadConfig?: () => Config;
}

export interface ShutdownReport {
  /** HTTP responses still running at the deadline (or at a second signal), cut. */
  httpCut: CutResponse[];
  httpFinished: number;
  /** TFTP transfers aborted at the deadline. */
  tftpCut: number;
  ms: number;
}

export interface ReloadReport {
  ok: boolean;
  error?: string;
  applied: string[];
  needsRestart: string[];
  loaderCache?: { droppedFiles: number; droppedBytes: number };
}

export interface Running {
  port: number;
  tftpPort: number | null;
  /**
   * Graceful stop: stop accepting (HTTP, proxyDHCP, new TFTP requests), let
   * running HTTP responses and TFTP transfers finish up to shutdownDeadline,
   * cut what is left, flush the boot event log, close the database.
   * `immediate` (a second signal) cuts at once, even during a graceful stop.
   */
  close(opts?: { immediate?: boolean }): Promise<ShutdownReport>;
  /** SIGHUP: applies what can change live; never touches a running transfer or stream. */
  reload(): ReloadReport;
  /** One retention pass now (also run by the sweeper). */
  retention(): Promise<RetentionResult>;
}

export async function serve(cfg: Config, log: Logger, opts: ServeOptions = {}): Promise<Running> {
  let current = cfg;
  let shuttingDown = false;
  // Bind first: with --http-port 0 the base URL scripts point at needs the
  // port the kernel picked. Requests cannot arrive before the services exist:
  // until the handler is set they get 503 "starting".
  const listener = await listenHttp(cfg);
  const { server, http, port } = listener;
  let s: Services;
  // /readyz: 503 naming each enabled listener until it is bound.
  const listening: ReadinessChecks = {};
  if (cfg.tftp === 'on') listening.tftp = 'TFTP: not listening yet';
  if (cfg.dhcp === 'on') listening.dhcp = 'proxyDHCP: not listening yet';
  try {
    s = await buildServices({ ...cfg, httpPort: port }, log, { eventWorker: true, processMetrics: true, readiness: () => listening });
  } catch (err) {
    server.close();
    throw err;
  }
  log.info({ database: s.backend.kind, where: s.backend.where }, s.backend.kind === 'postgres' ? `state in PostgreSQL at ${s.backend.where} (nodes on the same database serve as one)` : `state in SQLite at ${s.backend.where}`);
  // `chainboot restore` refuses while this file names a live serve.
  const removePidFile = writePidFile(cfg.dataDir);
  // The Node request/response pair travels in env: getConnInfo needs it.
  listener.setHandler(s.app.fetch);
  for (const l of loaderReport(cfg.loaderRoot)) {
    if (l.path) log.info({ loader: l.name, path: l.path }, `loader ${l.name} found`);
    else log.warn({ loader: l.name }, `loader ${l.name} not found in ${cfg.loaderRoot} or the system paths: ${l.provider}`);
  }
  log.info({ baseUrl: s.baseUrl, port }, `HTTP listening on ${cfg.httpHost}:${port}; iPXE clients start at ${s.baseUrl}/boot.ipxe`);
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(s.baseUrl)) log.warn(`the base URL ${s.baseUrl} is a loopback address: other machines cannot fetch from it (set advertiseIp or baseUrl)`);

  let tftp: TftpServer | null = null;
  let tftpPort: number | null = null;
  let tftpCut = 0;
  if (cfg.tftp === 'on') {
    tftp = createTftpServer({
      root: cfg.loaderRoot,
      port: cfg.tftpPort,
      ...parseTftpSettings(cfg).value,
      baseUrl: s.baseUrl,
      log: log.child({ svc: 'tftp' }),
      // Transfers aborted by a shutdown are counted on their way to the event log.
      events: {
        record(e, ...more) {
          if (shuttingDown && (e.detail as { outcome?: string } | null | undefined)?.outcome === 'aborted') tftpCut++;
          s.events.record(e, ...more);
        },
      },
      macForIp: (ip) => s.boot.macForIp(ip),
      bootIdForIp: (ip) => s.boot.boots.forIp(ip),
    });
    try {
      tftpPort = (await tftp.listen()).port; // logs where it listens, and why when it fell back
      s.metrics.watchTftp(tftp);
      listening.tftp = true;
    } catch (err) {
      log.error(`TFTP not running: ${(err as Error).message}`);
      listening.tftp = `TFTP not running: ${(err as Error).message}`;
      tftp = null;
    }
  }

  const dhcpLive = (c: Config) => {
    const d = parseDhcpSettings(c).value;
    return {
      loaders: d.loaders,
      defaultMode: d.defaultMode,
      replyDelayMs: d.replyDelayMs,
      extraVendorClasses: d.extraVendorClasses,
      macPrefixArch: d.macPrefixArch,
      junkUuidFallback: d.junkUuidFallback,
      answerWithoutUuid: d.answerWithoutUuid,
      menu: d.menu,
      rateLimit: d.rateLimit,
    };
  };
  let dhcp: ProxyDhcpServer | null = null;
  if (cfg.dhcp === 'on') {
    const d = parseDhcpSettings(cfg).value;
    dhcp = createProxyDhcpServer({
      port: cfg.dhcpPort,
      proxyPort: cfg.proxyDhcpPort,
      bindAddress: d.bindAddress,
      advertiseIp: d.advertiseIp,
      httpBaseUrl: s.baseUrl,
      // Synchronous, per packet: SQLite reads known hosts (unknown MACs from memory); PostgreSQL keeps every host's mode in memory.
      hostLookup: s.backend.hostLookup,
      log: log.child({ svc: 'dhcp' }),
      events: s.events,
      bootId: s.boot.boots.dhcp,
      // Clients behind a site's relay (or in its subnets) get the site's loaders, menu and URL.
      sitePolicy: (hints) => {
        const m = s.sites.directory.match(hints);
        if (!m) return undefined;
        const { id, name, version, loaders, menuDisplay, bootBaseUrl } = m.site;
        return { name, revision: `${id}:${version}`, loaders, menuDisplay: menuDisplay as SitePolicy['menuDisplay'], httpBaseUrl: bootBaseUrl };
      },
      ...dhcpLive(cfg),
    });
    try {
      // Throws only when neither 67 nor 4011 binds; a 67 failure alone is logged with its fix.
      await dhcp.listen();
      s.metrics.watchDhcp(dhcp);
      listening.dhcp = true;
    } catch (err) {
      log.error(`proxyDHCP not running: ${(err as Error).message}`);
      listening.dhcp = `proxyDHCP not running: ${(err as Error).message}`;
      dhcp = null;
    }
  }

  // Tasks served but never checked in (or past their expiry) are marked
  // expired; boot events past their retention are deleted in small batches.
  // In a worker thread from the built dist/ (serve), in-thread from TypeScript sources.
  // Whichever connection commits past the WAL threshold runs the checkpoint:
  // the main thread's, at a discovered host or a task change, would pay for
  // the frames the event writer and retention wrote (measured: writes of up to
  // 170 ms during a retention pass). The two worker connections checkpoint
  // instead, the retention worker at least once per sweep.
  const sqlite = s.backend.sqlite;
  const retentionInWorker = retentionWorkerAvailable && sqlite !== undefined && sqlite.file !== ':memory:';
  if (retentionInWorker) sqlite.db.$client.pragma('wal_autocheckpoint = 0');
  const retention: RetentionRunner = retentionInWorker
    ? startRetentionWorker(sqlite.file)
    : (() => {
        const r = s.backend.retention({ stopped: () => shuttingDown, batchSize: 500 });
        return { run: r.run, close: r.idle };
      })();
  const runRetention = async (): Promise<RetentionResult> => {
    const r = await retention.run({ maxAgeDays: current.eventRetentionDays, maxCount: current.eventRetentionCount });
    if (r.byAge + r.byCount > 0) {
      log.info({ ...r, ms: Math.round(r.ms), maxBatchMs: Math.round(r.maxBatchMs * 10) / 10 }, `boot event retention: deleted ${r.byAge} event(s) older than ${current.eventRetentionDays} days and ${r.byCount} beyond the newest ${current.eventRetentionCount}`);
    }
    return r;
  };
  const sweep = async () => {
    try {
      const limits = { checkinTimeoutMs: current.taskCheckinTimeout * 1000, runTimeoutMs: current.taskRunTimeout * 1000 };
      for (const t of await s.tasks.sweep(limits)) log.info({ task: t.id, message: t.message }, `task ${t.id} expired: ${t.message}`);
    } catch (err) {
      log.error({ err }, 'task sweep failed');
    }
    runRetention().catch((err: unknown) => log.error({ err }, 'boot event retention failed'));
  };
  void sweep();
  const sweeper = setInterval(() => void sweep(), 30_000);
  sweeper.unref();

  function reload(): ReloadReport {
    if (shuttingDown) return { ok: false, error: 'shutting down', applied: [], needsRestart: [] };
    const begun = beginReload(current, { reloadConfig: opts.reloadConfig, log, dhcp, dhcpLive, tftp, tftpLive: (c) => parseTftpSettings(c).value });
    if (!begun.ok) return begun.report;
    const { applied, changes } = begun;
    log.level = applied.logLevel;
    s.live.setDefaultProfile(applied.defaultProfile);
    if (applied.adminToken !== current.adminToken) s.live.setAdminToken(applied.adminToken).catch((err: unknown) => log.error({ err }, 'applying the admin token failed'));
    s.live.setMetricsToken(applied.metricsToken);
    if (applied.defaultProfile) {
      const name = applied.defaultProfile;
      s.store.getProfile(name).then(
        (p) => p || log.warn(`defaultProfile "${name}" does not exist yet: unknown hosts boot locally until it is created`),
        () => undefined,
      );
    }
    // New and replaced loaders are found from the next request; running transfers keep their file.
    const loaderCache = tftp?.files.reload({ caseInsensitive: parseTftpSettings(applied).value.caseInsensitive });
    current = applied;
    const report: ReloadReport = { ok: true, applied: changes.live, needsRestart: changes.restart, loaderCache };
    log.info(
      report,
      reloadSummary(changes, loaderCache ? `; loader cache dropped (${loaderCache.droppedFiles} file(s))` : ''),
    );
    if (!changes.live.length && !changes.restart.length) void runRetention();
    else if (changes.live.includes('eventRetentionDays') || changes.live.includes('eventRetentionCount')) void runRetention();
    return report;
  }

  let closing: Promise<ShutdownReport> | null = null;
  let cutNow: () => void = () => {};
  const cutSignal = new Promise<void>((resolve) => (cutNow = resolve));

  function close(closeOpts: { immediate?: boolean } = {}): Promise<ShutdownReport> {
    if (closeOpts.immediate) cutNow();
    return (closing ??= (async () => {
      const t0 = Date.now();
      shuttingDown = true;
      listener.stopAccepting();
      clearInterval(sweeper);
      // A retention pass stops after its current batch.
      const retentionClosed = retention.close();
      const deadlineMs = closeOpts.immediate ? 0 : current.shutdownDeadline * 1000;
      const deadline = t0 + deadlineMs;
      const httpRunning = http.active;
      const tftpRunning = tftp?.counters.active ?? 0;
      if (httpRunning || tftpRunning) log.info({ http: httpRunning, tftp: tftpRunning, deadlineMs }, `stopping: ${httpRunning} HTTP response(s) and ${tftpRunning} TFTP transfer(s) running get ${deadlineMs / 1000} s to finish`);
      // proxyDHCP stops at once: its clients simply retry. TFTP refuses new
      // requests from now on and aborts what still runs at the deadline.
      const [, , httpResult] = await Promise.all([
        dhcp?.close(),
        tftp ? Promise.race([tftp.close({ deadlineMs }), cutSignal]) : undefined,
        http.drain(deadline, cutSignal),
      ]);
      // A second signal does not wait for the TFTP deadline: what still runs ends with the process.
      if (tftp && tftp.counters.active > 0) tftpCut += tftp.counters.active;
      for (const c of httpResult.cut) log.warn(c, `shutdown deadline: cut ${c.method} ${c.url} to ${c.client} after ${c.runningMs} ms (${c.bytesWritten} bytes sent)`);
      if (httpResult.cut.length) {
        // The cut streams record their boot events as their files close: a moment to do so before the last flush.
        await new Promise((r) => setTimeout(r, 100));
      }
      const report: ShutdownReport = { httpCut: httpResult.cut, httpFinished: httpResult.finished, tftpCut, ms: Date.now() - t0 };
      try {
        await (closeOpts.immediate ? Promise.race([s.events.close(), new Promise((r) => setTimeout(r, 2000))]) : s.events.close());
      } catch (err) {
        log.error({ err }, 'flushing the boot event log failed');
      }
      await retentionClosed;
      await s.backend.close();
      removePidFile();
      log.info({ ...report, httpCut: report.httpCut.length }, `stopped after ${report.ms} ms: ${report.httpFinished} HTTP response(s) finished, ${report.httpCut.length} cut; ${Math.max(0, tftpRunning - tftpCut)} TFTP transfer(s) finished, ${tftpCut} cut`);
      return report;
    })());
  }
  return { close, reload, port, tftpPort, retention: runRetention };
}

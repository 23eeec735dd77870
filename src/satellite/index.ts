/**
 * `chainboot serve --role satellite --upstream <centre>`: proxyDHCP + TFTP +
 * a small HTTP server at a site the centre's broadcasts cannot reach, with
 * no database. It follows the centre (loaders by sha256, host modes, its
 * site's overrides) and sends its boot events there; when the centre cannot
 * be reached it fails safe: iPXE clients are told to boot their local disk
 * at once, PXE firmware still gets its loader from the local copies.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { resolveBaseUrl, SETTINGS } from '../config.js';
import type { Logger } from '../log.js';
import type { Running, ReloadReport, ShutdownReport } from '../main.js';
import { beginReload, reloadSummary } from '../lifecycle.js';
import { listenHttp } from '../http/listen.js';
import { createProxyDhcpServer, type ProxyDhcpServer, type ProxyDhcpLiveSettings } from '../dhcp/server.js';
import { parseDhcpSettings } from '../dhcp/settings.js';
import { createTftpServer, type TftpServer } from '../tftp/server.js';
import { parseTftpSettings } from '../tftp/settings.js';
import type { ReadinessChecks } from '../metrics/http.js';
import { createUpstreamHealth } from './health.js';
import { createLoaderSync } from './loader-sync.js';
import { createFollower } from './follow.js';
import { createEventForwarder } from './forwarder.js';
import { satelliteApp } from './http.js';
import type { SiteOverrides } from './protocol.js';
import { createBootCorrelator } from '../metrics/boot-id.js';

const DEFAULT_LOADER_ROOT = SETTINGS.find((s) => s.key === 'loaderRoot')!.def as string;

/** A satellite keeps its loader copies in <dataDir>/loaders unless a loader root is configured. */
export function satelliteLoaderDir(cfg: Pick<Config, 'loaderRoot' | 'dataDir'>): string {
  return resolve(cfg.loaderRoot === DEFAULT_LOADER_ROOT ? join(cfg.dataDir, 'loaders') : cfg.loaderRoot);
}

/**
 * proxyDHCP's live settings from the config, with the site's overrides from
 * the centre on top: its loader per family and its menu display.
 */
export function dhcpLiveFor(cfg: Config, site: SiteOverrides | null): ProxyDhcpLiveSettings {
  const d = parseDhcpSettings(cfg).value;
  const loaders = { ...d.loaders, ...(site?.loaders ?? {}) };
  let menu = d.menu;
  if (site?.menuDisplay) {
    menu = site.menuDisplay === 'never' ? undefined : { ...(menu ?? { timeoutSec: Number(cfg.dhcpMenuTimeout) || 10, prompt: cfg.dhcpMenuPrompt }), display: site.menuDisplay };
  }
  return {
    loaders,
    menu,
    defaultMode: d.defaultMode,
    replyDelayMs: d.replyDelayMs,
    extraVendorClasses: d.extraVendorClasses,
    macPrefixArch: d.macPrefixArch,
    junkUuidFallback: d.junkUuidFallback,
    answerWithoutUuid: d.answerWithoutUuid,
    rateLimit: d.rateLimit,
  };
}

export async function serveSatellite(cfg: Config, log: Logger, opts: { reloadConfig?: () => Config } = {}): Promise<Running> {
  let current = cfg;
  let shuttingDown = false;
  const upstream = cfg.upstream.replace(/\/+$/, '');
  const loaderDir = satelliteLoaderDir(cfg);
  mkdirSync(loaderDir, { recursive: true });

  const listener = await listenHttp(cfg);
  const { http, port } = listener;
  // Clients of this site fetch /boot.ipxe from here, never from across the WAN.
  const baseUrl = resolveBaseUrl({ ...cfg, httpPort: port });

  // Boot ids and the MAC behind a client address, as on the centre: TFTP and HTTP steps then name their host.
  const boots = createBootCorrelator();
  const macForIp = (ip: string | undefined) => (ip ? (boots.macForIp(ip) ?? events.macForIp(ip)) : undefined);
  const events = createEventForwarder({ upstream, token: cfg.satelliteToken, satellite: cfg.site || undefined, log: log.child({ svc: 'events' }) });
  let dhcp: ProxyDhcpServer | null = null;
  let tftp: TftpServer | null = null;
  let site: SiteOverrides | null = null;
  const applySite = (next: SiteOverrides | null) => {
    site = next;
    if (!dhcp) return;
    try {
      dhcp.reconfigure(dhcpLiveFor(current, site));
      log.info({ site: next }, next ? `site "${next.name}" overrides from the centre applied (loaders ${JSON.stringify(next.loaders)}, menu ${next.menuDisplay || 'as configured'})` : 'site overrides removed: running with this satellite\'s own settings');
    } catch (err) {
      log.error(`site overrides from the centre not applied, keeping the running settings: ${(err as Error).message}`);
    }
  };
  const follow = createFollower({ upstream, token: cfg.satelliteToken, site: cfg.site || undefined, log: log.child({ svc: 'follow' }), onSite: applySite });
  const loaders = createLoaderSync({
    upstream,
    token: cfg.satelliteToken,
    dir: loaderDir,
    log: log.child({ svc: 'loaders' }),
    // TFTP notices a replaced file by itself (inode and times); dropping its cache frees the old copies at once.
    onInstalled: () => tftp?.files.reload(),
  });
  const health = createUpstreamHealth({
    url: upstream,
    intervalMs: cfg.upstreamCheckInterval * 1000,
    log: log.child({ svc: 'upstream' }),
    onChange: (up) => {
      if (!up) return;
      // Back: catch up on what may have changed meanwhile, and send what waited.
      void follow.refresh();
      void loaders.sync();
      void events.flush();
    },
  });

  const listening: ReadinessChecks = {};
  if (cfg.tftp === 'on') listening.tftp = 'TFTP: not listening yet';
  if (cfg.dhcp === 'on') listening.dhcp = 'proxyDHCP: not listening yet';
  const app = satelliteApp({ upstream, site: cfg.site || undefined, health, loaders, follow, events, loaderDir, log, listeners: () => listening, macForIp, bootForIp: (ip) => boots.forIp(ip), metricsToken: () => current.metricsToken || undefined });
  listener.setHandler((req, env) => app.fetch(req, env));
  log.info({ baseUrl, port, upstream, site: cfg.site || null, loaderDir }, `HTTP listening on ${cfg.httpHost}:${port}; satellite of ${upstream}: iPXE clients start at ${baseUrl}/boot.ipxe`);
  if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(baseUrl)) log.warn(`the base URL ${baseUrl} is a loopback address: other machines cannot fetch from it (set advertiseIp or baseUrl)`);

  let tftpPort: number | null = null;
  if (cfg.tftp === 'on') {
    tftp = createTftpServer({
      root: loaderDir,
      port: cfg.tftpPort,
      ...parseTftpSettings(cfg).value,
      // autoexec.ipxe points at this satellite's /boot.ipxe, which knows whether the centre is up.
      baseUrl,
      log: log.child({ svc: 'tftp' }),
      events,
      macForIp,
      bootIdForIp: (ip) => boots.forIp(ip),
    });
    try {
      tftpPort = (await tftp.listen()).port;
      listening.tftp = true;
    } catch (err) {
      log.error(`TFTP not running: ${(err as Error).message}`);
      listening.tftp = `TFTP not running: ${(err as Error).message}`;
      tftp = null;
    }
  }

  if (cfg.dhcp === 'on') {
    const d = parseDhcpSettings(cfg).value;
    dhcp = createProxyDhcpServer({
      port: cfg.dhcpPort,
      proxyPort: cfg.proxyDhcpPort,
      bindAddress: d.bindAddress,
      advertiseIp: d.advertiseIp,
      httpBaseUrl: baseUrl,
      hostLookup: (mac) => follow.lookup(mac),
      log: log.child({ svc: 'dhcp' }),
      events,
      bootId: boots.dhcp,
      ...dhcpLiveFor(cfg, site),
    });
    try {
      await dhcp.listen();
      listening.dhcp = true;
    } catch (err) {
      log.error(`proxyDHCP not running: ${(err as Error).message}`);
      listening.dhcp = `proxyDHCP not running: ${(err as Error).message}`;
      dhcp = null;
    }
  }

  // Periodic work; each timer is re-armed with the current interval (a reload may change it).
  const timers = new Set<NodeJS.Timeout>();
  const every = (seconds: () => number, work: () => void) => {
    const arm = () => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (shuttingDown) return;
        if (health.state.up) work();
        arm();
      }, seconds() * 1000);
      t.unref();
      timers.add(t);
    };
    arm();
  };
  health.start();
  every(() => current.loaderSyncInterval, () => void loaders.sync());
  every(() => current.hostSyncInterval, () => void follow.refresh());
  every(() => 1, () => void events.flush());

  function reload(): ReloadReport {
    if (shuttingDown) return { ok: false, error: 'shutting down', applied: [], needsRestart: [] };
    const begun = beginReload(current, { reloadConfig: opts.reloadConfig, log, dhcp, dhcpLive: (c) => dhcpLiveFor(c, site), tftp, tftpLive: (c) => parseTftpSettings(c).value });
    if (!begun.ok) return begun.report;
    const { applied, changes } = begun;
    log.level = applied.logLevel;
    health.setInterval(applied.upstreamCheckInterval * 1000);
    const loaderCache = tftp?.files.reload({ caseInsensitive: parseTftpSettings(applied).value.caseInsensitive });
    current = applied;
    // A reload also syncs now: the way to make a satellite take a replaced loader at once.
    void health.checkNow().then((h) => {
      if (!h.up) return;
      void loaders.sync();
      void follow.refresh();
    });
    const report: ReloadReport = { ok: true, applied: changes.live, needsRestart: changes.restart, loaderCache };
    log.info(
      report,
      reloadSummary(changes, '; syncing loaders and host modes from the centre now'),
    );
    return report;
  }

  let closing: Promise<ShutdownReport> | null = null;
  let cutNow: () => void = () => {};
  const cutSignal = new Promise<void>((r) => (cutNow = r));
  function close(closeOpts: { immediate?: boolean } = {}): Promise<ShutdownReport> {
    if (closeOpts.immediate) cutNow();
    return (closing ??= (async () => {
      const t0 = Date.now();
      shuttingDown = true;
      listener.stopAccepting();
      for (const t of timers) clearTimeout(t);
      health.stop();
      loaders.close();
      const deadlineMs = closeOpts.immediate ? 0 : current.shutdownDeadline * 1000;
      const tftpRunning = tftp?.counters.active ?? 0;
      const [, , httpResult] = await Promise.all([dhcp?.close(), tftp ? Promise.race([tftp.close({ deadlineMs }), cutSignal]) : undefined, http.drain(t0 + deadlineMs, cutSignal)]);
      const tftpCut = tftp?.counters.active ?? 0;
      for (const c of httpResult.cut) log.warn(c, `shutdown deadline: cut ${c.method} ${c.url} to ${c.client} after ${c.runningMs} ms (${c.bytesWritten} bytes sent)`);
      // A last try to hand the centre what is queued; a centre that is down costs them.
      if (health.state.up && !closeOpts.immediate) await Promise.race([events.flush(), new Promise((r) => setTimeout(r, 2000).unref())]);
      const left = events.stats.queued;
      if (left) log.warn({ events: left }, `${left} boot event(s) not sent to the centre before stopping`);
      const report: ShutdownReport = { httpCut: httpResult.cut, httpFinished: httpResult.finished, tftpCut, ms: Date.now() - t0 };
      log.info({ ...report, httpCut: report.httpCut.length }, `stopped after ${report.ms} ms: ${report.httpFinished} HTTP response(s) finished, ${report.httpCut.length} cut; ${Math.max(0, tftpRunning - tftpCut)} TFTP transfer(s) finished, ${tftpCut} cut`);
      return report;
    })());
  }

  // No database, so nothing to keep within a retention limit.
  const retention = async () => ({ byAge: 0, byCount: 0, batches: 0, ms: 0, maxBatchMs: 0 });
  return { port, tftpPort, close, reload, retention };
}

/**
 * Lifecycle helpers for serve: which settings a reload (SIGHUP) can apply
 * live, and the HTTP side of a graceful shutdown (stop accepting, let running
 * responses finish up to a deadline, then cut them and say which).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { SETTINGS, type Config } from './config.js';

/**
 * Settings a running server cannot take without a restart: sockets already
 * bound, directories and URLs baked into the routes, the generated
 * autoexec.ipxe and the proxyDHCP's fixed server address.
 */
export const RESTART_SETTINGS: ReadonlySet<keyof Config> = new Set<keyof Config>([
  'dataDir',
  'databaseUrl',
  'httpHost',
  'httpPort',
  'advertiseIp',
  'baseUrl',
  'assetRoot',
  'loaderRoot',
  'templateDir',
  'uiSecureCookies',
  // HTTP connection limits are set on the listening server once (http/conn-limit.ts).
  'httpMaxConnections',
  'httpMaxConnectionsPerClient',
  'httpHeadersTimeout',
  'httpRequestTimeout',
  'httpIdleTimeout',
  'tftp',
  'tftpPort',
  'tftpFallbackPort',
  'tftpBindAddress',
  'tftpSinglePort',
  'dhcp',
  'dhcpPort',
  'proxyDhcpPort',
  'dhcpBindAddress',
  // A satellite is a different server, and its centre and site name are fixed at start.
  'role',
  'upstream',
  'site',
  // The centre's /satellite/v1 routes read the token they were built with (main.ts buildServices).
  'satelliteToken',
]);

export interface ConfigChanges {
  /** Changed, and applied by a reload. */
  live: (keyof Config)[];
  /** Changed, but only a restart applies them. */
  restart: (keyof Config)[];
}

/** Which settings differ between the running config and a freshly loaded one. Pure. */
export function configChanges(running: Config, next: Config): ConfigChanges {
  const out: ConfigChanges = { live: [], restart: [] };
  for (const s of SETTINGS) {
    if (running[s.key] === next[s.key]) continue;
    (RESTART_SETTINGS.has(s.key) ? out.restart : out.live).push(s.key);
  }
  return out;
}

/** The next config to run with: the new one, except what needs a restart, which keeps its running value. */
export function appliedConfig(running: Config, next: Config): Config {
  const out = { ...next } as Record<string, unknown>;
  for (const k of RESTART_SETTINGS) out[k] = running[k];
  return out as unknown as Config;
}

export interface CutResponse {
  method: string;
  url: string;
  client: string;
  /** Bytes written to the connection so far (headers included). */
  bytesWritten: number;
  runningMs: number;
}

export interface HttpDrainResult {
  /** Responses that were running when the drain began and finished by themselves. */
  finished: number;
  cut: CutResponse[];
  ms: number;
}

interface Active {
  req: IncomingMessage;
  started: number;
}

/**
 * Watches a Node HTTP server's responses so a shutdown knows what still runs.
 * While draining, every response (running or new) is marked Connection:
 * close, and a connection whose response ended is closed at once instead of
 * idling in keep-alive.
 */
export function trackHttp(server: Server) {
  const active = new Map<ServerResponse, Active>();
  let draining = false;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    active.set(res, { req, started: Date.now() });
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      active.delete(res);
      // The connection is idle only once this response is detached from it.
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
  });

  function describe(res: ServerResponse, a: Active): CutResponse {
    return {
      method: a.req.method ?? '?',
      url: a.req.url ?? '?',
      client: `${a.req.socket.remoteAddress ?? '?'}:${a.req.socket.remotePort ?? '?'}`,
      bytesWritten: res.socket?.bytesWritten ?? a.req.socket.bytesWritten ?? 0,
      runningMs: Date.now() - a.started,
    };
  }

  let closed: Promise<void> | null = null;
  /** Stops listening (idle keep-alive connections are closed); resolves when the last connection is gone. */
  function stopAccepting(): Promise<void> {
    draining = true;
    for (const res of active.keys()) if (!res.headersSent) res.shouldKeepAlive = false;
    closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    return closed;
  }

  /** Cuts every connection now; returns what was still running. */
  function cutAll(): CutResponse[] {
    const cut = [...active].map(([res, a]) => describe(res, a));
    server.closeAllConnections();
    return cut;
  }

  return {
    get draining() {
      return draining;
    },
    get active() {
      return active.size;
    },
    stopAccepting,
    cutAll,
    /** Stops accepting and waits for running responses up to `deadline` (an absolute Date.now() time), then cuts the rest. */
    async drain(deadline: number, cutNow?: Promise<void>): Promise<HttpDrainResult> {
      const t0 = Date.now();
      const running = active.size;
      const done = stopAccepting();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'cut'>((resolve) => {
        timer = setTimeout(() => resolve('cut'), Math.max(0, deadline - Date.now()));
      });
      const why = await Promise.race([done.then(() => 'done' as const), expired, ...(cutNow ? [cutNow.then(() => 'cut' as const)] : [])]);
      clearTimeout(timer);
      let cut: CutResponse[] = [];
      if (why === 'cut') {
        cut = cutAll();
        await done;
      }
      return { finished: Math.max(0, running - cut.length), cut, ms: Date.now() - t0 };
    },
  };
}

interface Reconfigurable<T> {
  reconfigure(v: T): void;
}

/**
 * The first half of a SIGHUP reload, for serve and the satellite alike: load
 * the new configuration, then hand proxyDHCP and TFTP their new values, whole
 * or not at all (if TFTP refuses, proxyDHCP is put back). A refusal is
 * logged and returned as the reload's report; the running configuration stays.
 */
export function beginReload<D, T>(
  current: Config,
  opts: {
    reloadConfig?: () => Config;
    log: { error(msg: string): void };
    dhcp?: Reconfigurable<D> | null;
    dhcpLive: (c: Config) => D;
    tftp?: Reconfigurable<T> | null;
    tftpLive: (c: Config) => T;
  },
): { ok: true; next: Config; applied: Config; changes: ConfigChanges } | { ok: false; report: { ok: false; error: string; applied: []; needsRestart: [] } } {
  const refuse = (err: unknown) => {
    const error = (err as Error).message;
    opts.log.error(`reload: the new configuration is refused, the running one stays: ${error}`);
    return { ok: false as const, report: { ok: false as const, error, applied: [] as [], needsRestart: [] as [] } };
  };
  let next: Config;
  try {
    next = opts.reloadConfig ? opts.reloadConfig() : current;
  } catch (err) {
    return refuse(err);
  }
  const changes = configChanges(current, next);
  const applied = appliedConfig(current, next);
  try {
    opts.dhcp?.reconfigure(opts.dhcpLive(applied));
    try {
      opts.tftp?.reconfigure(opts.tftpLive(applied));
    } catch (err) {
      opts.dhcp?.reconfigure(opts.dhcpLive(current));
      throw err;
    }
  } catch (err) {
    return refuse(err);
  }
  return { ok: true, next, applied, changes };
}

/** The log line of an applied reload: what changed live, what waits for a restart, and any extra (`; …`). */
export function reloadSummary(changes: ConfigChanges, extra = ''): string {
  return (
    `reloaded the configuration: ${changes.live.length ? `applied ${changes.live.join(', ')}` : 'no live setting changed'}` +
    (changes.restart.length ? `; ${changes.restart.join(', ')} changed but need(s) a restart (still running with the old value)` : '') +
    extra
  );
}

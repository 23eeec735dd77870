/**
 * The HTTP side of observability: the request-metrics middleware (with a
 * structured access log line carrying the boot id), GET /metrics and
 * GET /readyz.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../log.js';
import { clientIp } from '../http/client-ip.js';
import type { Metrics } from './index.js';

/** Route label of a request no route answered (404s for random paths must not each make a series). */
export const UNMATCHED = '(unmatched)';

type Writer = (chunk: unknown, ...rest: unknown[]) => unknown;

function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Counts the body bytes handed to a Node response: every writer (the
 * node-server adapter, the asset pump) goes through write()/end(), whose
 * framing (chunked encoding) and head are left out.
 */
function countBody(res: ServerResponse, add: (n: number) => void): void {
  const write = res.write as unknown as Writer;
  const end = res.end as unknown as Writer;
  (res as unknown as { write: Writer }).write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    add(chunkBytes(chunk, rest[0]));
    return write.call(this, chunk, ...rest);
  };
  (res as unknown as { end: Writer }).end = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(chunkBytes(chunk, rest[0]));
    return end.call(this, chunk, ...rest);
  };
}

export interface HttpMetricsOptions {
  log?: Logger;
  /** The current boot correlation id of a client address, for the access log line (must not start a boot). */
  bootFor?: (ip: string | undefined) => string | undefined;
}

/**
 * Requests, response bytes and time-to-head by route pattern and status
 * class; an access log line at debug (warn for a 5xx) with the boot id.
 * Mount first, with app.use('*', …).
 */
export function httpMetrics(metrics: Metrics, opts: HttpMetricsOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    const own = c.req.routeIndex;
    const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
    const node = outgoing instanceof ServerResponse ? outgoing : null;
    let bytes = 0;
    if (node && c.req.method !== 'HEAD') countBody(node, (n) => (bytes += n));
    await next();
    const seconds = (performance.now() - t0) / 1000;
    // Past this middleware, the route that answered; none (a 404 from notFound) leaves the index here.
    const route = c.req.routeIndex === own ? UNMATCHED : routePath(c) || UNMATCHED;
    // A handler that wrote to the Node response itself (asset streams) set the real status there.
    const status = node?.headersSent ? node.statusCode : c.res.status;
    const labels = metrics.httpRequest(c.req.method, route, status, seconds);
    if (node) {
      // The body may still be streaming: its bytes are known when the response closes (finished or cut).
      if (node.writableFinished || node.destroyed) metrics.httpBytes(labels, bytes);
      else node.once('close', () => metrics.httpBytes(labels, bytes));
    } else if (c.req.method !== 'HEAD') {
      // app.request() (tests, other runtimes): only a declared length can be counted without reading the body.
      const length = Number(c.res.headers.get('content-length'));
      if (length > 0) metrics.httpBytes(labels, length);
    }
    const log = opts.log;
    const level = status >= 500 ? 'warn' : 'debug';
    if (log && log.isLevelEnabled(level)) {
      const ip = clientIp(c);
      log[level](
        { method: c.req.method, path: c.req.path.slice(0, 200), route, status, ms: Math.round(seconds * 10_000) / 10, ip, boot: opts.bootFor?.(ip) },
        `HTTP ${c.req.method} ${c.req.path.slice(0, 200)} → ${status}`,
      );
    }
  };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * GET /metrics; with a token, only for "Authorization: Bearer <token>". A
 * function is asked at each scrape, so a reload can set or change the token.
 */
export function metricsHandler(metrics: Metrics, token?: string | (() => string | undefined)): (c: Context) => Promise<Response> {
  const current = typeof token === 'function' ? token : () => token;
  let hashed: { token: string; sha: Buffer } | null = null;
  return async (c) => {
    const want = current();
    if (want) {
      if (hashed?.token !== want) hashed = { token: want, sha: sha256(want) };
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      // Hashes compared, so the comparison takes the same time whatever the length given.
      if (!m || !timingSafeEqual(sha256(m[1]!), hashed.sha)) {
        return c.text('metrics: send "Authorization: Bearer <metricsToken>"\n', 401, { 'WWW-Authenticate': 'Bearer realm="chainboot metrics"' });
      }
    }
    const { text, contentType } = await metrics.scrape();
    return c.body(text, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  };
}

/** Each readiness input: true when ready, else why not (shown in the 503 body). */
export type ReadinessChecks = Record<string, true | string>;

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
  /** The names of the checks that failed. */
  notReady: string[];
}

/**
 * Ready = the database answers a query, and every input `listeners()` gives
 * is true (main.ts: the enabled DHCP/TFTP listeners are bound).
 */
export function readiness(ping: (() => Promise<void>) | undefined, listeners?: () => ReadinessChecks, pingTimeoutMs = 2000): () => Promise<Readiness> {
  return async () => {
    const checks: ReadinessChecks = {};
    if (ping) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${pingTimeoutMs} ms`)), pingTimeoutMs);
          }),
        ]);
        checks.database = true;
      } catch (err) {
        checks.database = `the database does not answer: ${(err as Error).message}`;
      } finally {
        clearTimeout(timer);
      }
    }
    try {
      Object.assign(checks, listeners?.() ?? {});
    } catch (err) {
      checks.listeners = `the listener state could not be read: ${(err as Error).message}`;
    }
    const notReady = Object.keys(checks).filter((k) => checks[k] !== true);
    return { ready: notReady.length === 0, checks: Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, v === true ? 'ok' : v])), notReady };
  };
}

/**
 * The HTTP listener of `serve` and of a satellite: bound before the services
 * exist (with --http-port 0 the URL scripts point at needs the port the kernel
 * picked), answering 503 "starting" until a handler is set and 503 "shutting
 * down" once the stop began; connection limits and deadlines applied; running
 * responses tracked for a graceful stop.
 */
import { serve as serveHttp, type ServerType } from '@hono/node-server';
import type { Server as HttpServer } from 'node:http';
import type { Config } from '../config.js';
import { explainBindError } from '../net/bind.js';
import { limitConnections } from './conn-limit.js';
import { parseHttpLimitSettings } from './settings.js';
import { trackHttp } from '../lifecycle.js';

export type FetchHandler = (req: Request, env: unknown) => Response | Promise<Response>;

export interface HttpListener {
  server: ServerType;
  /** The port bound (the one asked for, or the kernel's pick for 0). */
  port: number;
  /** Running responses, for draining at a stop. */
  http: ReturnType<typeof trackHttp>;
  setHandler(h: FetchHandler): void;
  /** From now on every new request gets 503 and the connection is closed. */
  stopAccepting(): void;
}

export async function listenHttp(cfg: Pick<Config, 'httpHost' | 'httpPort'> & Parameters<typeof parseHttpLimitSettings>[0]): Promise<HttpListener> {
  let handler: FetchHandler | null = null;
  let stopping = false;
  const server: ServerType = await new Promise((ok, fail) => {
    const srv = serveHttp(
      {
        fetch: (req, env) => {
          // A request on a kept-alive connection after the stop began: no new work.
          if (stopping) return new Response('shutting down\n', { status: 503, headers: { 'retry-after': '10', connection: 'close' } });
          return handler ? handler(req, env) : new Response('starting\n', { status: 503 });
        },
        hostname: cfg.httpHost,
        port: cfg.httpPort,
      },
      () => ok(srv),
    );
    srv.once('error', (err: NodeJS.ErrnoException) => fail(new Error(explainBindError(err, 'tcp', cfg.httpPort))));
  });
  // Per-client and overall connection caps, header/request deadlines, idle timeout.
  limitConnections(server, parseHttpLimitSettings(cfg).value);
  const http = trackHttp(server as HttpServer);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.httpPort;
  return {
    server,
    port,
    http,
    setHandler: (h) => {
      handler = h;
    },
    stopAccepting: () => {
      stopping = true;
    },
  };
}

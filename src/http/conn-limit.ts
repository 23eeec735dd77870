/**
 * Limits on what an HTTP client can make the server hold: concurrent
 * connections per client and overall, and time limits that a slow client
 * (slowloris: headers a byte at a time; a request body that never ends; a
 * download nobody reads) cannot stretch — without ever cutting a response
 * that is still moving, such as a many-GB image download.
 *
 *   const limits = limitConnections(server, parseHttpLimitSettings(cfg).value);
 *
 * Node's own timers do the time limits: `headersTimeout` (whole header block),
 * `requestTimeout` (whole request, body included: it stops counting when the
 * request has arrived, so it never limits the response) and the socket idle
 * timeout (`server.timeout`: nothing sent or received for that long — a
 * download in progress always moves, a client that stopped reading does not).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerType } from '@hono/node-server';
import { clientKey } from './limits.js';

export interface ConnLimitOptions {
  /** Concurrent connections from one client (an IPv4 address or an IPv6 /64); 0 = no limit. */
  perClient: number;
  /** Concurrent connections overall; 0 = no limit. */
  total: number;
  /** A request's complete header block must arrive within this (slowloris); 0 = Node's default stays. */
  headersTimeoutMs: number;
  /** A complete request, body included, must arrive within this; the response is not limited. 0 = no limit. */
  requestTimeoutMs: number;
  /** A connection on which nothing moves either way for this long is closed; 0 = never. */
  idleTimeoutMs: number;
  /**
   * How often Node checks the header and request deadlines (Node's default is
   * 30 s, which would let a slowloris client hold on 30 s past the limit).
   */
  checkIntervalMs?: number;
  /** Told about each refused connection (for a log line or a metric). */
  onRefused?: (r: { client: string; why: 'per-client' | 'total'; open: number }) => void;
}

export interface ConnLimiter {
  /** Open (admitted) connections, overall and for one address. */
  open(address?: string): number;
  readonly refused: { perClient: number; total: number };
}

/** Refused sockets still answering (each briefly holds an fd): past this, excess ones are dropped without an answer. */
const MAX_ANSWERING = 256;

/** Takes the server serve() returned (an HTTP/1.1 node:http server: ServerType for the wiring's convenience). */
export function limitConnections(httpServer: Server | ServerType, opts: ConnLimitOptions): ConnLimiter {
  const server = httpServer as Server;
  if (opts.headersTimeoutMs > 0) server.headersTimeout = opts.headersTimeoutMs;
  server.requestTimeout = opts.requestTimeoutMs;
  server.timeout = opts.idleTimeoutMs;
  // A walk over the open connections in C++: cheap enough once a second.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = opts.checkIntervalMs ?? 1000;
  // The deadline checker starts on 'listening' with the interval of that
  // moment; a server that listens already gets it restarted with ours.
  if (server.listening) {
    const restart = server.listeners('listening').find((f) => f.name === 'setupConnectionsTracking');
    if (restart) (restart as (this: Server) => void).call(server);
  }

  const perClient = new Map<string, number>();
  let total = 0;
  let answering = 0;
  const refused = { perClient: 0, total: 0 };

  // Node's HTTP server takes sockets in its 'connection' listener: admitted
  // sockets go on to it, refused ones never reach the HTTP parser.
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy(); // closed before we saw it
      return;
    }
    const client = clientKey(address);
    const mine = perClient.get(client) ?? 0;
    if (opts.total > 0 && total >= opts.total) return refuse(socket, client, 'total', total);
    if (opts.perClient > 0 && mine >= opts.perClient) return refuse(socket, client, 'per-client', mine);
    perClient.set(client, mine + 1);
    total++;
    socket.once('close', () => {
      total--;
      const n = (perClient.get(client) ?? 1) - 1;
      if (n > 0) perClient.set(client, n);
      else perClient.delete(client);
    });
    for (const h of handlers) h.call(server, socket);
  });

  function refuse(socket: Socket, client: string, why: 'per-client' | 'total', open: number): void {
    refused[why === 'total' ? 'total' : 'perClient']++;
    opts.onRefused?.({ client, why, open });
    socket.on('error', () => {}); // a reset from the client is expected here
    if (answering >= MAX_ANSWERING) {
      socket.destroy();
      return;
    }
    answering++;
    socket.once('close', () => answering--);
    // An HTTP answer rather than a bare reset, so a person sees why. What the
    // client sends is read and dropped: closing with unread data would make
    // the kernel send a reset that can overtake the answer.
    const [status, text] =
      why === 'per-client'
        ? ['429 Too Many Requests', `chainboot: too many connections from ${client} (at most ${opts.perClient} at once)\n`]
        : ['503 Service Unavailable', `chainboot: too many connections (at most ${opts.total} at once); try again shortly\n`];
    socket.setTimeout(5_000, () => socket.destroy());
    socket.resume();
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n${text}`);
  }

  return {
    open: (address) => (address === undefined ? total : (perClient.get(clientKey(address)) ?? 0)),
    refused,
  };
}

/**
 * Connection limits and time limits on a real node:http server, with real
 * sockets on 127.0.0.1: many connections from one address, a slowloris
 * client sending its headers a byte at a time, a body that never ends, a
 * silent connection, a client that stops reading — and a long download that
 * must not be cut. Every wait is for an event (a close, a response); no
 * assertion depends on how long anything took.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { limitConnections, type ConnLimitOptions, type ConnLimiter } from '../../src/http/conn-limit.js';

const NO_LIMITS: ConnLimitOptions = { perClient: 0, total: 0, headersTimeoutMs: 60_000, requestTimeoutMs: 120_000, idleTimeoutMs: 0 };
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const ok: Handler = (_req, res) => res.end('ok');

async function start(opts: Partial<ConnLimitOptions>, handler: Handler = ok): Promise<{ server: Server; port: number; limiter: ConnLimiter; handled: () => number }> {
  let handled = 0;
  const server = createServer((req, res) => {
    handled++;
    handler(req, res);
  });
  server.keepAliveTimeout = 60_000; // kept-alive test connections stay until the test closes them
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  // Applied to a server that listens already, as main.ts does.
  const limiter = limitConnections(server, { ...NO_LIMITS, ...opts });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { server, port: (server.address() as { port: number }).port, limiter, handled: () => handled };
}

function open(port: number): Promise<Socket> {
  return new Promise((done, fail) => {
    const s = connect({ host: '127.0.0.1', port }, () => done(s));
    s.once('error', fail);
    cleanups.push(() => s.destroy());
  });
}

/** Everything the server sends until it closes the connection. */
function untilClosed(s: Socket): Promise<string> {
  return new Promise((done) => {
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', () => {}); // a reset after the answer is fine
    s.once('close', () => done(text));
  });
}

/** Sends one keep-alive GET and reads one response (Content-Length framed). */
function request(s: Socket, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      s.off('data', onData);
      done({ status: Number(buf.slice(9, 12)), body: buf.slice(end + 4, end + 4 + len) });
    };
    s.on('data', onData);
    s.once('error', fail);
    s.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n`);
  });
}

/** Waits for a condition the server reaches by itself (a socket closing on its side). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('connections per client and overall', () => {
  it('refuses a client past its limit with a 429 that says why, and admits it again when one closes', async () => {
    const { port, limiter } = await start({ perClient: 4 });
    const held: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await open(port);
      expect(await request(s)).toEqual({ status: 200, body: 'ok' });
      held.push(s);
    }
    expect(limiter.open('127.0.0.1')).toBe(4);
    const fifth = await open(port);
    const answer = await untilClosed(fifth);
    expect(answer).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(answer).toContain('Retry-After: 5');
    expect(answer).toContain('chainboot: too many connections from 127.0.0.1 (at most 4 at once)');
    expect(limiter.refused.perClient).toBe(1);

    held[0]!.destroy();
    await until(() => limiter.open('127.0.0.1') === 3);
    const again = await open(port);
    expect(await request(again)).toEqual({ status: 200, body: 'ok' });
  });

  it('admits exactly the limit out of 200 connections opened at once; the rest are answered and closed', async () => {
    const { port, limiter, handled } = await start({ perClient: 50 });
    const sockets = await Promise.all(Array.from({ length: 200 }, () => open(port)));
    const outcomes = sockets.map((s) => {
      let text = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => (text += d));
      s.on('error', () => {});
      return { s, closed: once(s, 'close').then(() => text) };
    });
    // The refused ones are closed by the server; the admitted ones stay open, silent.
    await until(() => limiter.refused.perClient === 150 && outcomes.filter((o) => o.s.destroyed).length === 150);
    const refusedTexts = await Promise.all(outcomes.filter((o) => o.s.destroyed).map((o) => o.closed));
    expect(limiter.open('127.0.0.1')).toBe(50);
    expect(refusedTexts).toHaveLength(150);
    expect(refusedTexts.every((t) => t.startsWith('HTTP/1.1 429 '))).toBe(true);
    // The admitted ones are served normally.
    const admitted = outcomes.filter((o) => !o.s.destroyed).map((o) => o.s);
    expect(admitted).toHaveLength(50);
    const answers = await Promise.all(admitted.map((s) => request(s)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(handled()).toBe(50);
  });

  it('refuses past the overall limit with a 503', async () => {
    const { port, limiter } = await start({ total: 3 });
    for (let i = 0; i < 3; i++) expect((await request(await open(port))).status).toBe(200);
    const answer = await untilClosed(await open(port));
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toContain('too many connections (at most 3 at once)');
    expect(limiter.refused.total).toBe(1);
  });
});

describe('time limits', () => {
  const tight = { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50 };

  it('closes a slowloris connection that sends its headers a byte at a time', async () => {
    const { port, handled } = await start(tight);
    const s = await open(port);
    const closed = untilClosed(s);
    const head = 'GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ';
    s.write(head);
    let sent = head.length;
    const trickle = setInterval(() => {
      if (!s.destroyed && s.writable) {
        s.write('a');
        sent++;
      }
    }, 10);
    cleanups.push(() => clearInterval(trickle));
    const answer = await closed;
    clearInterval(trickle);
    // Closed by the server (with a 408, or plainly), the headers never complete and no handler runs.
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(handled()).toBe(0);
    expect(sent).toBeLessThan(16 * 1024); // far below the header size limit: the deadline closed it
  });

  it('closes a connection that never sends anything', async () => {
    const { port, handled, limiter } = await start(tight);
    const s = await open(port);
    const answer = await untilClosed(s);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(handled()).toBe(0);
    await until(() => limiter.open() === 0);
  });

  it('closes a request whose body trickles in past the request deadline', async () => {
    const { port } = await start(tight, (req, res) => {
      req.resume();
      req.on('end', () => res.end('read it all'));
    });
    const s = await open(port);
    const closed = untilClosed(s);
    s.write('POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n');
    const trickle = setInterval(() => !s.destroyed && s.writable && s.write('x'), 10);
    cleanups.push(() => clearInterval(trickle));
    const answer = await closed;
    clearInterval(trickle);
    expect(answer).not.toContain('read it all');
  });

  it('does not cut a response that outlasts the header and request deadlines while it moves', async () => {
    // 80 chunks at least 10 ms apart: the response takes at least 800 ms, past both deadlines.
    const { port } = await start({ ...tight, idleTimeoutMs: 0 }, (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(80 * 1024) });
      let n = 0;
      const next = () => {
        res.write(Buffer.alloc(1024, 0x61));
        if (++n < 80) setTimeout(next, 10);
        else res.end();
      };
      next();
    });
    const s = await open(port);
    const closed = untilClosed(s);
    s.write('GET /big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    const answer = await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.length - answer.indexOf('\r\n\r\n') - 4).toBe(80 * 1024);
  });

  it('does not cut a moving download that outlasts the idle timeout, but closes one whose client stopped reading', async () => {
    const idleTimeoutMs = 1500;
    // Moving: a chunk every ~10 ms for at least 2 idle timeouts.
    const moving = await start({ idleTimeoutMs }, (_req, res) => {
      const t0 = Date.now();
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const next = () => {
        if (Date.now() - t0 > 2 * idleTimeoutMs) return res.end('END');
        res.write(Buffer.alloc(512, 0x62));
        setTimeout(next, 10);
      };
      next();
    });
    const s = await open(moving.port);
    const closed = untilClosed(s);
    s.write('GET /stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    const answer = await closed;
    expect(answer.endsWith('END\r\n0\r\n\r\n')).toBe(true); // chunked: the final chunk arrived

    // Stalled: the server writes as fast as the client takes, the client takes nothing.
    let cut!: () => void;
    const wasCut = new Promise<void>((r) => (cut = r));
    const stalled = await start({ idleTimeoutMs: 300 }, (_req, res) => {
      res.on('close', () => {
        if (!res.writableFinished) cut();
      });
      const pump = () => {
        while (!res.destroyed && res.write(Buffer.alloc(64 * 1024, 0x63)));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const reader = await open(stalled.port);
    reader.on('error', () => {});
    reader.write('GET /stream HTTP/1.1\r\nHost: test\r\n\r\n');
    reader.pause();
    await wasCut;
    await until(() => stalled.limiter.open() === 0);
  });
});

describe('wired as serve wires it (@hono/node-server, the real app)', () => {
  it('limits connections per client and answers a 100 MB declared body with 413 before reading it', async () => {
    const { serve } = await import('@hono/node-server');
    const { makeStack, TOKEN } = await import('../helpers/services.js');
    const { app } = await makeStack();
    const server = await new Promise<Server>((done) => {
      const srv = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => done(srv as Server));
    });
    cleanups.push(() => server.close());
    const limiter = limitConnections(server, { ...NO_LIMITS, perClient: 2 });
    const port = (server.address() as { port: number }).port;

    const a = await open(port);
    const answer = new Promise<string>((done) => {
      let text = '';
      a.setEncoding('latin1');
      a.on('data', (d: string) => {
        text += d;
        if (text.includes('\r\n\r\n') && text.includes('}')) done(text);
      });
    });
    a.write(`POST /api/v1/hosts HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n{"mac":`);
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('{"error":"request body too large: this endpoint takes at most 1 MiB"}');

    const b = await open(port);
    expect((await request(b, '/healthz')).status).toBe(200);
    expect(await untilClosed(await open(port))).toMatch(/^HTTP\/1\.1 429 /);
    expect(limiter.refused.perClient).toBe(1);
    a.destroy();
    b.destroy();
  });
});

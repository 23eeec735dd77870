/**
 * Shared pieces of the asset tests: an asset tree in a temp dir, the file
 * routes on a real loopback socket with an event sink the test can wait on,
 * a raw HTTP/1.1 client for byte-exact requests, and checks for the external
 * clients (which fail, never skip, when missing).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import { fileRoutes, type FileRoutesOptions } from '../../src/http/routes/files.js';
import type { NewBootEvent } from '../../src/db/schema.js';

export type AssetEvent = Omit<NewBootEvent, 'at'> & { detail: Record<string, unknown> };

/** Collects recorded events; a test awaits the one it needs instead of sleeping. */
export class EventSink {
  readonly events: AssetEvent[] = [];
  private waiters: { pred: (e: AssetEvent) => boolean; left: number; resolve: (e: AssetEvent) => void }[] = [];

  record(e: Omit<NewBootEvent, 'at'>): void {
    const ev = e as AssetEvent;
    this.events.push(ev);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(ev)) return true;
      if (w.left-- > 0) return true;
      w.resolve(ev);
      return false;
    });
  }

  /** The matching event number `skip` (0 = the first), already recorded or still to come. */
  next(pred: (e: AssetEvent) => boolean, skip = 0): Promise<AssetEvent> {
    const seen = this.events.filter(pred);
    if (seen.length > skip) return Promise.resolve(seen[skip]!);
    return new Promise((resolve) => this.waiters.push({ pred, left: skip - seen.length, resolve }));
  }

  /** Waits until `n` events match, and returns them all. */
  async count(pred: (e: AssetEvent) => boolean, n: number): Promise<AssetEvent[]> {
    await this.next(pred, n - 1);
    return this.events.filter(pred);
  }

  bytes(pred: (e: AssetEvent) => boolean = () => true): number {
    return this.events.filter(pred).reduce((n, e) => n + Number(e.detail.bytes ?? 0), 0);
  }
}

export interface FileServer {
  port: number;
  url: string;
  events: EventSink;
  /** Every request as it arrives ("GET /assets/x bytes=0-9"), before any byte is sent. */
  arrivals: string[];
  server: ServerType;
  close(): Promise<void>;
}

/** The file routes alone, on 127.0.0.1 and a free port, exactly as the node-server adapter runs them in `serve`. */
export async function startFileServer(opts: Partial<FileRoutesOptions> & { assetRoot: string }): Promise<FileServer> {
  const events = new EventSink();
  const arrivals: string[] = [];
  const app = new Hono();
  app.use('*', (c, next) => {
    arrivals.push(`${c.req.method} ${c.req.path}${c.req.header('range') ? ' ' + c.req.header('range') : ''}`);
    return next();
  });
  app.route('/', fileRoutes({ loaderRoot: '/nonexistent', events, ...opts }));
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    events,
    arrivals,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A sparse file of `size` bytes whose only data are 32-byte markers naming
 * their own offset, every `every` bytes and once more at an odd place inside
 * each interval: a piece served from the wrong offset, or two pieces swapped,
 * changes the file's hash, while the disk holds only a few MB.
 */
export function sparseMarkedFile(path: string, size: number, every = 1024 * 1024): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (let base = 0; base < size; base += every) {
      for (const at of [base, base + ((base / every) * 7919 + 4099) % Math.max(1, every - 32)]) {
        if (at + 32 > size) continue;
        const mark = markerAt(at);
        writeSync(fd, mark, 0, mark.length, at);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The 32 bytes sparseMarkedFile writes at `at`. */
export function markerAt(at: number): Buffer {
  return Buffer.from(`@${at.toString(16).padStart(14, '0')}:chainboot-mark`.padEnd(31, '.') + '\n', 'latin1');
}

/**
 * Asserts two byte strings are equal, naming the first difference. (A deep
 * toEqual on megabyte Buffers walks them element by element for seconds.)
 */
export function expectSameBytes(got: Buffer, want: Buffer, what = 'body'): void {
  if (got.equals(want)) return;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  throw new Error(`${what}: ${got.length} bytes, expected ${want.length}; first difference at offset ${i}`);
}

/** Bytes [start, end] of a file, for comparing a response body with the source. */
export function fileBytes(path: string, start: number, end: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    createReadStream(path, { start, end })
      .on('data', (d) => parts.push(d as Buffer))
      .on('end', () => resolve(Buffer.concat(parts)))
      .on('error', reject);
  });
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/**
 * Throws, with how to install it, when an external client is missing: the
 * test then fails and says why, rather than passing by being skipped.
 */
export function requireTool(name: string, path?: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${path ?? name}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not installed; this test needs it (install: sudo scripts/install-asset-test-deps.sh)`);
  }
}

export interface RawResponse {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A raw HTTP/1.1 connection: sends bytes exactly as given (no URL
 * normalisation, as a hostile or a firmware client would), and reads
 * responses one by one, framed by Content-Length, on the same connection.
 */
export class RawConnection {
  // Chunks are kept as they come and joined only when parsed: joining on
  // every chunk would be quadratic in a 100 MB body.
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;
  private wake: (() => void) | null = null;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.length += d.length;
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    this.socket.on('close', end);
    this.socket.on('error', end);
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  private flat(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    const b = this.flat();
    this.chunks = [b.subarray(n)];
    this.length -= n;
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error(`connection closed; unparsed: ${JSON.stringify(this.flat().toString('latin1').slice(0, 200))}`);
    await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
  }

  /** The next response; `head` for a response to HEAD (no body whatever the length). */
  async response(head = false): Promise<RawResponse> {
    let end: number;
    while ((end = this.flat().indexOf('\r\n\r\n')) < 0) await this.more();
    const lines = this.flat().subarray(0, end).toString('latin1').split('\r\n');
    const statusLine = lines[0]!;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    const noBody = head || status === 304 || status === 204 || (status >= 100 && status < 200);
    const len = noBody ? 0 : Number(headers['content-length'] ?? NaN);
    this.consume(end + 4);
    if (!Number.isFinite(len)) {
      // No length: the body runs to the end of the connection.
      return { status, statusLine, headers, body: await this.rest() };
    }
    while (this.length < len) await this.more();
    const body = Buffer.from(this.flat().subarray(0, len));
    this.consume(len);
    return { status, statusLine, headers, body };
  }

  /** Everything until the server closes (for answers to broken requests). */
  async rest(): Promise<Buffer> {
    while (!this.ended) await this.more().catch(() => undefined);
    const b = this.flat();
    this.chunks = [];
    this.length = 0;
    return b;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request on its own connection. */
export async function rawRequest(port: number, text: string, head = false): Promise<RawResponse> {
  const c = new RawConnection(port);
  try {
    c.send(text);
    return await c.response(head);
  } finally {
    c.close();
  }
}

/** Splits a multipart/byteranges body into its parts. */
export function multipartParts(body: Buffer, contentType: string): { headers: Record<string, string>; data: Buffer }[] {
  const m = /boundary=([^;]+)/.exec(contentType);
  if (!m) throw new Error(`no boundary in ${contentType}`);
  const delim = Buffer.from(`--${m[1]}`, 'latin1');
  const parts: { headers: Record<string, string>; data: Buffer }[] = [];
  let at = body.indexOf(delim);
  while (at >= 0) {
    const after = at + delim.length;
    if (body.subarray(after, after + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', after);
    const headers: Record<string, string> = {};
    for (const l of body.subarray(after + 2, headEnd).toString('latin1').split('\r\n')) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const range = /bytes (\d+)-(\d+)\/\d+/.exec(headers['content-range'] ?? '');
    if (!range) throw new Error(`part without Content-Range: ${JSON.stringify(headers)}`);
    const len = Number(range[2]) - Number(range[1]) + 1;
    const data = body.subarray(headEnd + 4, headEnd + 4 + len);
    parts.push({ headers, data });
    // The next delimiter starts with the CRLF that ends this part.
    if (body.subarray(headEnd + 4 + len, headEnd + 4 + len + 2).toString() !== '\r\n') throw new Error('part not followed by CRLF');
    at = body.indexOf(delim, headEnd + 4 + len);
  }
  return parts;
}

/** Open file descriptors of this process that point at a path. */
export function fdsOpenOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

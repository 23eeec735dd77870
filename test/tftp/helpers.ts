/**
 * Test helpers for the TFTP server: a temporary loader root, a boot event
 * sink that can be awaited, a raw UDP client, and checks for the real client
 * programs (which fail the test with the reason when missing, never skip).
 */
import { execFile } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { silentLogger } from '../../src/log.js';
import { decodePacket, type Packet } from '../../src/tftp/packet.js';
import { createTftpServer, type TftpServer, type TftpServerOptions } from '../../src/tftp/server.js';

/** Safety bound for waits on the network: a hung test fails with a message instead of hanging. Not a timing assertion. */
export const BOUND_MS = 15_000;

export function makeRoot(files: Record<string, Buffer | string>): string {
  const root = mkdtempSync(join(tmpdir(), 'chainboot-tftp-'));
  for (const [name, content] of Object.entries(files)) {
    const p = join(root, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return root;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Deterministic pseudo-random bytes (so a failure reproduces). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

export interface RecordedEvent {
  mac: string | null;
  clientIp: string | null;
  kind: string;
  request: string;
  result: string;
  status: number;
  detail: Record<string, unknown>;
}

export function eventSink() {
  const events: RecordedEvent[] = [];
  const waiters: { pred: (e: RecordedEvent) => boolean; resolve: (e: RecordedEvent) => void }[] = [];
  return {
    events,
    record(e: unknown): void {
      const ev = e as RecordedEvent;
      events.push(ev);
      for (const w of [...waiters]) {
        if (w.pred(ev)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(ev);
        }
      }
    },
    /** Resolves with the first event (already recorded or to come) matching pred. */
    waitFor(pred: (e: RecordedEvent) => boolean, what = 'a boot event'): Promise<RecordedEvent> {
      const had = events.find(pred);
      if (had) return Promise.resolve(had);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no ${what} within ${BOUND_MS} ms; recorded: ${JSON.stringify(events.map((x) => [x.request, x.result]))}`));
          }
        }, BOUND_MS).unref();
      });
    },
  };
}

export function captureLogger(): { log: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

export async function startServer(opts: Partial<TftpServerOptions> & { root: string }) {
  const sink = eventSink();
  const server: TftpServer = createTftpServer({ host: '127.0.0.1', port: 0, log: silentLogger, events: sink, ...opts });
  const { port } = await server.listen();
  return { server, port, sink, events: sink.events };
}

export interface Received {
  packet: Packet;
  from: RemoteInfo;
  raw: Buffer;
}

/** A bare UDP endpoint speaking TFTP packets, for the cases real clients cannot be made to produce. */
export class RawClient {
  readonly sock: Socket;
  private queue: Received[] = [];
  private waiting: ((r: Received) => void) | null = null;
  malformed = 0;

  private constructor() {
    this.sock = createSocket('udp4');
    this.sock.on('message', (raw, from) => {
      const d = decodePacket(raw);
      if (!d.ok) {
        this.malformed++;
        return;
      }
      const r = { packet: d.packet, from, raw };
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(r);
      } else this.queue.push(r);
    });
  }

  static async open(): Promise<RawClient> {
    const c = new RawClient();
    await new Promise<void>((resolve) => c.sock.bind(0, '127.0.0.1', resolve));
    return c;
  }

  get port(): number {
    return this.sock.address().port;
  }

  send(buf: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(buf, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  /** The next packet received (queued or to come). */
  next(what = 'a packet'): Promise<Received> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no ${what} within ${BOUND_MS} ms`));
      }, BOUND_MS);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }

  async nextOf<K extends Packet['op']>(op: K, what?: string): Promise<Received & { packet: Extract<Packet, { op: K }> }> {
    const r = await this.next(what ?? op);
    if (r.packet.op !== op) throw new Error(`expected ${op}, got ${JSON.stringify(r.packet.op === 'data' ? { op: 'data', block: r.packet.block } : r.packet)}`);
    return r as Received & { packet: Extract<Packet, { op: K }> };
  }

  close(): void {
    this.sock.close();
  }
}

/** Path of a client program, or a failure naming the package that provides it. */
export function requireTool(path: string, pkg: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`${path} is missing: install the Debian package "${pkg}" (scripts/install-tftp-test-deps.sh does it)`);
  }
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: unknown }).code as number | undefined) ?? 1 : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

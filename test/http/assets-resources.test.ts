/**
 * Resources while streaming: a client that goes away frees its file
 * descriptor at once; a client that does not read holds at most two chunks;
 * RSS stays flat while several multi-GB downloads run at once. Files are
 * sparse, so gigabytes cost no disk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BodyReader,
  CHUNK_SIZE,
  COLD_WINDOW_MS,
  DEPTH,
  markDiskCold,
  ONE_SHOT_BUDGET,
  ONE_SHOT_MAX,
  oneShotBytesInUse,
  pumpToNode,
  readsInThreadPool,
  type BodyOutcome,
  type SegmentFile,
} from '../../src/http/asset-body.js';
import { fdsOpenOn, RawConnection, requireTool, sparseMarkedFile, startFileServer, tempDir, type FileServer } from './assets-helpers.js';

const GiB = 2 ** 30;
let tmp: ReturnType<typeof tempDir>;
let root: string;
let srv: FileServer;

beforeAll(async () => {
  tmp = tempDir('chainboot-asset-resources-');
  root = tmp.dir;
  sparseMarkedFile(join(root, 'huge.img'), 8 * GiB, 64 * 2 ** 20);
  sparseMarkedFile(join(root, 'stream.img'), 2 * GiB, 16 * 2 ** 20);
  for (const [i, name] of ['set.img', 'set.002', 'set.003'].entries()) sparseMarkedFile(join(root, name), GiB + i, 64 * 2 ** 20);
  srv = await startFileServer({ assetRoot: root });
});

afterAll(async () => {
  await srv?.close();
  tmp?.remove();
});

const openFds = () => readdirSync('/proc/self/fd').length;

describe('file descriptors', () => {
  it('a client that disconnects mid-transfer frees the file at once', async () => {
    const path = join(root, 'huge.img');
    const before = openFds();
    expect(fdsOpenOn(path)).toBe(0);
    const c = new RawConnection(srv.port);
    const firstBytes = new Promise<void>((resolve) => c.socket.once('data', () => resolve()));
    c.send('GET /assets/huge.img HTTP/1.1\r\nHost: x\r\n\r\n');
    await firstBytes;
    // Mid-transfer: the server holds the file open (the test can see it).
    expect(fdsOpenOn(path)).toBe(1);
    c.close();
    const ev = await srv.events.next((e) => e.request === '/assets/huge.img' && e.detail.aborted === true);
    expect(ev.result).toMatch(/aborted after \d+ of 8589934592 bytes/);
    expect(fdsOpenOn(path)).toBe(0);
    // Nothing else leaked either: server socket, client socket and file are all gone.
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('every segment of a split set is closed when its client goes away, with several clients at once', async () => {
    const paths = ['set.img', 'set.002', 'set.003'].map((n) => join(root, n));
    const clients = [0, 1, 2, 3].map((i) => {
      const c = new RawConnection(srv.port);
      const first = new Promise<void>((resolve) => c.socket.once('data', () => resolve()));
      // Start inside different segments, so different files are open.
      c.send(`GET /assets/set.img?joined HTTP/1.1\r\nHost: x\r\nRange: bytes=${i * 900_000_000}-\r\n\r\n`);
      return { c, first };
    });
    await Promise.all(clients.map((x) => x.first));
    expect(paths.reduce((n, p) => n + fdsOpenOn(p), 0)).toBe(4);
    for (const { c } of clients) c.close();
    await srv.events.count((e) => e.request === '/assets/set.img?joined' && e.detail.aborted === true, 4);
    expect(paths.map(fdsOpenOn)).toEqual([0, 0, 0]);
  });

  it('a completed download closes its file too', async () => {
    const path = join(root, 'stream.img');
    const c = new RawConnection(srv.port);
    c.send('GET /assets/stream.img HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9999999\r\n\r\n');
    const r = await c.response();
    c.close();
    expect(r.body.length).toBe(10_000_000);
    await srv.events.next((e) => e.request === '/assets/stream.img' && e.status === 206 && e.detail.bytes === 10_000_000);
    expect(fdsOpenOn(path)).toBe(0);
  });
});

describe('backpressure', () => {
  /** A stand-in for the Node response that completes writes only when told to. */
  class HeldResponse extends EventEmitter {
    writableFinished = false;
    held: (() => void)[] = [];
    written = 0;
    maxOutstanding = 0;
    private onWrite: (() => void) | null = null;
    write(chunk: Buffer, cb: (err?: Error | null) => void): boolean {
      this.written += chunk.length;
      this.held.push(() => cb());
      this.maxOutstanding = Math.max(this.maxOutstanding, this.held.length);
      this.onWrite?.();
      return false;
    }
    /** Like Node: the callback runs on 'finish', and 'close' comes after it. */
    end(chunk?: Buffer, cb?: (err?: Error | null) => void): void {
      const finish = () => {
        cb?.();
        this.writableFinished = true;
        queueMicrotask(() => this.emit('close'));
      };
      if (!chunk) return finish();
      this.written += chunk.length;
      this.held.push(finish);
      this.maxOutstanding = Math.max(this.maxOutstanding, this.held.length);
      this.onWrite?.();
    }
    destroy(): void {
      queueMicrotask(() => this.emit('close'));
    }
    corked = 0;
    cork(): void {
      this.corked++;
    }
    uncork(): void {
      this.corked--;
    }
    nextWrite(): Promise<void> {
      return new Promise((r) => (this.onWrite = r));
    }
  }

  it(`a client that reads nothing holds at most ${DEPTH} chunks; the next read waits for a write to complete`, async () => {
    const path = join(root, 'stream.img');
    const st = statSync(path);
    const seg: SegmentFile = { path, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
    const length = 40 * CHUNK_SIZE + 17;
    let fills = 0;
    const reader = new BodyReader([seg], [{ kind: 'file', segment: 0, offset: 12345, length }]);
    const fill = reader.fill.bind(reader);
    reader.fill = (b: Buffer) => {
      fills++;
      return fill(b);
    };
    const res = new HeldResponse();
    let outcome: BodyOutcome | undefined;
    const done = new Promise<void>((r) =>
      pumpToNode(res as never, reader, length, (o) => {
        outcome = o;
        r();
      }),
    );
    for (let i = 0; i < DEPTH; i++) await res.nextWrite();
    // Both buffers are with the "socket"; give the pump a full turn of the loop to misbehave.
    await new Promise<void>((r) => setImmediate(r));
    expect(res.held.length).toBe(DEPTH);
    expect(fills).toBe(DEPTH);
    // Release one write at a time: each lets exactly one more chunk through.
    while (res.written < length) {
      const next = res.nextWrite();
      res.held.shift()!();
      await next;
      expect(res.held.length).toBeLessThanOrEqual(DEPTH);
    }
    while (res.held.length) res.held.shift()!();
    await done;
    expect(res.maxOutstanding).toBe(DEPTH);
    expect(outcome).toEqual({ bytes: length, aborted: false, error: undefined });
  });
  /** A stand-in that records each write and end (and whether the response was corked then), completing none until told. */
  class CountingResponse extends HeldResponse {
    writes: number[] = [];
    ends: number[] = [];
    corkedAt: number[] = [];
    private waiters: { n: number; resolve: () => void }[] = [];
    get calls(): number {
      return this.writes.length + this.ends.length;
    }
    override write(chunk: Buffer, cb: (err?: Error | null) => void): boolean {
      this.writes.push(chunk.length);
      this.corkedAt.push(this.corked);
      const r = super.write(chunk, cb);
      this.wakeWaiters();
      return r;
    }
    override end(chunk?: Buffer, cb?: (err?: Error | null) => void): void {
      this.ends.push(chunk?.length ?? 0);
      this.corkedAt.push(this.corked);
      super.end(chunk, cb);
      this.wakeWaiters();
    }
    /** Resolves once `n` writes and ends have been made. */
    calledTimes(n: number): Promise<void> {
      return new Promise((resolve) => {
        this.waiters.push({ n, resolve });
        this.wakeWaiters();
      });
    }
    private wakeWaiters(): void {
      for (const w of this.waiters.filter((x) => this.calls >= x.n)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    /** Completes writes as they come until the response has made `total` calls and none is held. */
    async drain(total: number): Promise<void> {
      while (this.calls < total || this.held.length) {
        if (this.held.length) this.held.shift()!();
        else await this.calledTimes(this.calls + 1);
      }
    }
  }

  function pump(res: HeldResponse, offset: number, length: number): Promise<BodyOutcome> {
    const path = join(root, 'stream.img');
    const st = statSync(path);
    const seg: SegmentFile = { path, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
    const reader = new BodyReader([seg], [{ kind: 'file', segment: 0, offset, length }]);
    return new Promise((r) => pumpToNode(res as never, reader, length, r));
  }

  const CHUNKS = ONE_SHOT_MAX / CHUNK_SIZE;

  it(`a body of up to ${ONE_SHOT_MAX} bytes is read without waiting for the socket and leaves corked until its end: one write with the head`, async () => {
    const res = new CountingResponse();
    const done = pump(res, 4321, ONE_SHOT_MAX);
    await res.calledTimes(CHUNKS);
    expect(res.writes).toEqual(Array(CHUNKS - 1).fill(CHUNK_SIZE));
    expect(res.ends).toEqual([CHUNK_SIZE]);
    // Nothing had to complete before the end, and nothing left before it (end() uncorks).
    expect(res.held.length).toBe(CHUNKS);
    expect(res.corkedAt).toEqual(Array(CHUNKS).fill(1));
    expect(oneShotBytesInUse()).toBe(ONE_SHOT_MAX);
    await res.drain(CHUNKS);
    expect(await done).toEqual({ bytes: ONE_SHOT_MAX, aborted: false, error: undefined });
    expect(oneShotBytesInUse()).toBe(0);
  });

  it('a longer body is corked only for its first write, which carries the head', async () => {
    const res = new CountingResponse();
    const done = pump(res, 0, ONE_SHOT_MAX + 1);
    await res.calledTimes(DEPTH);
    expect(res.corkedAt).toEqual([1, 0]);
    expect(oneShotBytesInUse()).toBe(0);
    await res.drain(CHUNKS + 1);
    expect(await done).toEqual({ bytes: ONE_SHOT_MAX + 1, aborted: false, error: undefined });
  });

  it('a one-shot body whose client goes away before its end completes no longer counts against the budget', async () => {
    const res = new CountingResponse();
    const done = pump(res, 0, ONE_SHOT_MAX - 1);
    await res.calledTimes(CHUNKS);
    expect(oneShotBytesInUse()).toBe(ONE_SHOT_MAX);
    // The connection is cut: 'close' without 'finish', and the end's callback never runs.
    res.emit('close');
    expect(await done).toEqual({ bytes: 0, aborted: true, error: undefined });
    expect(oneShotBytesInUse()).toBe(0);
  });

  it(`past ${ONE_SHOT_BUDGET} bytes held by one-shot bodies, a short body streams ${DEPTH} chunks at a time instead`, async () => {
    const holders: CountingResponse[] = [];
    const outcomes: Promise<BodyOutcome>[] = [];
    for (let i = 0; i < ONE_SHOT_BUDGET / ONE_SHOT_MAX; i++) {
      const res = new CountingResponse();
      outcomes.push(pump(res, i * ONE_SHOT_MAX, ONE_SHOT_MAX));
      await res.calledTimes(CHUNKS);
      holders.push(res);
    }
    expect(oneShotBytesInUse()).toBe(ONE_SHOT_BUDGET);
    const over = new CountingResponse();
    outcomes.push(pump(over, 0, ONE_SHOT_MAX));
    await over.calledTimes(DEPTH);
    // A full turn of the loop: a one-shot body would have written on by now.
    await new Promise<void>((r) => setImmediate(r));
    expect(over.calls).toBe(DEPTH);
    expect(over.corkedAt).toEqual([1, 0]);
    expect(oneShotBytesInUse()).toBe(ONE_SHOT_BUDGET);
    for (const res of holders) await res.drain(CHUNKS);
    await over.drain(CHUNKS);
    for (const o of await Promise.all(outcomes)) expect(o).toEqual({ bytes: ONE_SHOT_MAX, aborted: false, error: undefined });
    expect(oneShotBytesInUse()).toBe(0);
  });
});

describe('memory', () => {
  function status(field: 'VmRSS' | 'VmHWM'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return Number(m![1]) * 1024;
  }

  async function downloads(n: number, path: string): Promise<void> {
    requireTool('curl');
    await Promise.all(
      Array.from({ length: n }, () => {
        const child = spawn('curl', ['-sS', '--fail', '-o', '/dev/null', `${srv.url}${path}`], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr!.on('data', (d) => (err += d));
        return new Promise<void>((resolve, reject) => {
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}: ${err}`))));
        });
      }),
    );
  }

  it('RSS stays flat while 4 clients download 2 GiB each at once (8 GiB served)', async () => {
    // Warm up: code compiled, buffers pooled, heap grown to its working size.
    await downloads(4, '/assets/set.img');
    // Reset the peak (VmHWM) to the current RSS: clear_refs "5" (Linux >= 4.0).
    writeFileSync('/proc/self/clear_refs', '5');
    const base = status('VmRSS');
    const sentBefore = srv.events.bytes((e) => e.request === '/assets/stream.img' && e.status === 200);
    await downloads(4, '/assets/stream.img');
    const peak = status('VmHWM');
    await srv.events.count((e) => e.request === '/assets/stream.img' && e.status === 200, 4);
    const sent = srv.events.bytes((e) => e.request === '/assets/stream.img' && e.status === 200) - sentBefore;
    expect(sent).toBe(8 * GiB);
    const grew = peak - base;
    // Buffering even one file would show gigabytes; streaming shows a few MB
    // of buffers and garbage.
    console.info(`RSS ${(base / 2 ** 20).toFixed(1)} MB before, peak ${(peak / 2 ** 20).toFixed(1)} MB while serving 8 GiB to 4 clients`);
    expect(grew, `RSS ${Math.round(base / 2 ** 20)} MB before, peak ${Math.round(peak / 2 ** 20)} MB while serving 8 GiB`).toBeLessThan(64 * 2 ** 20);
  }, 180_000);
});

describe('reads from a cold disk', () => {
  it('go through the thread pool for a while after a slow one, with the same bytes', async () => {
    const direct = await fetch(`${srv.url}/assets/set.img?joined`, { headers: { range: `bytes=${GiB - 100}-${GiB + 99}` } });
    const want = Buffer.from(await direct.arrayBuffer());
    // The window is judged on given clocks: how long a busy machine takes to
    // serve the reads below must not decide the test.
    const markedAt = performance.now();
    markDiskCold(markedAt);
    expect(readsInThreadPool(markedAt + COLD_WINDOW_MS - 1)).toBe(true);
    expect(readsInThreadPool(markedAt + COLD_WINDOW_MS + 1)).toBe(false);
    const cold = await fetch(`${srv.url}/assets/set.img?joined`, { headers: { range: `bytes=${GiB - 100}-${GiB + 99}` } });
    expect(Buffer.from(await cold.arrayBuffer()).equals(want)).toBe(true);
    const whole = await fetch(`${srv.url}/assets/stream.img`, { headers: { range: 'bytes=0-20000000' } });
    expect((await whole.arrayBuffer()).byteLength).toBe(20_000_001);
  });
});

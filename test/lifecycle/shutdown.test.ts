/**
 * Graceful shutdown of the real built `chainboot serve`: running HTTP
 * downloads and TFTP transfers finish within the deadline, or are cut at it,
 * and the process exits either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireBuilt, run } from '../helpers/process.js';
import { curl, heldTftpRead, pattern, signal, startServer, type Server } from './helpers.js';

// Bigger than what loopback socket buffers hold (a few MB each way), so the
// server is still writing when it is signalled.
const BIG = 64 * 1024 * 1024;
const LOADER_SIZE = 300_000; // 586 TFTP blocks of 512

let dir: string;
let assets: string;
let loaders: string;
let big: Buffer;
let loader: Buffer;

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'chainboot-lifecycle-'));
  assets = join(dir, 'assets');
  loaders = join(dir, 'loaders');
  mkdirSync(assets);
  mkdirSync(loaders);
  big = pattern(BIG, 7);
  loader = pattern(LOADER_SIZE, 11);
  writeFileSync(join(assets, 'big.img'), big);
  writeFileSync(join(loaders, 'undionly.kpxe'), loader);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const roots = () => ['--asset-root', assets, '--loader-root', loaders];

async function afterExit(s: Server): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) {
    signal(s, 'SIGKILL');
    await s.exited;
  }
}

describe('SIGTERM', () => {
  it('lets a running HTTP download and TFTP transfer finish byte-exact, then exits 0', async () => {
    const s = await startServer([...roots(), '--shutdown-deadline', '60']);
    try {
      const out = join(dir, 'graceful.img');
      // ~3 s for 64 MB: still running at the signal, long done before the deadline.
      const dl = curl(['--limit-rate', '20M', `${s.baseUrl}/assets/big.img`], out);
      let release: () => void = () => {};
      const tftp = await heldTftpRead(s.tftpPort, 'undionly.kpxe', 10, new Promise<void>((r) => (release = r)));
      await Promise.all([dl.received(1024 * 1024), tftp.held]);

      signal(s, 'SIGTERM');
      const stopping = await s.waitLog((l) => l.msg.startsWith('stopping:'), 'stopping: …');
      expect(stopping).toMatchObject({ http: 1, tftp: 1, deadlineMs: 60_000 });
      // New work is refused from now on: the listening socket is closed.
      const late = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${s.baseUrl}/healthz`]);
      expect(late.stdout).not.toBe('200');
      release();

      const [got, t, code] = await Promise.all([dl.done, tftp.result, s.exited]);
      expect(got.code, got.stderr).toBe(0);
      expect(readFileSync(out).equals(big)).toBe(true);
      expect(t.error).toBeUndefined();
      expect(t.data.equals(loader)).toBe(true);
      expect(code).toBe(0);
      const stopped = s.lines().find((l) => l.msg.startsWith('stopped after'))!;
      expect(stopped).toMatchObject({ httpFinished: 1, httpCut: 0, tftpCut: 0 });
      // The pid file restore checks is gone with the server.
      expect(() => readFileSync(join(s.dataDir, 'chainboot.pid'))).toThrow();
      // Both finished transfers are in the event log, flushed before exit.
      const events = await run(process.execPath, [CLI, 'events', '--data-dir', s.dataDir]);
      expect(events.stdout).toMatch(/asset\s+200 \/assets\/big\.img → 200\n/);
      expect(events.stdout).toMatch(/tftp\s+200 undionly\.kpxe → sent 300000 bytes/);
    } finally {
      await afterExit(s);
    }
  });

  it('cuts what is still running at the deadline, says what, and exits 0 anyway', async () => {
    const s = await startServer([...roots(), '--shutdown-deadline', '1', '--tftp-retries', '50']);
    try {
      const out = join(dir, 'cut.img');
      // 64 MB at 8 MB/s cannot finish within the 1 s deadline (and what the socket buffers hold drains fast).
      const dl = curl(['--limit-rate', '8M', `${s.baseUrl}/assets/big.img`], out);
      let release: () => void = () => {};
      const tftp = await heldTftpRead(s.tftpPort, 'undionly.kpxe', 5, new Promise<void>((r) => (release = r)));
      await Promise.all([dl.received(64 * 1024), tftp.held]);

      signal(s, 'SIGTERM');
      const code = await s.exited;
      release(); // the held client now reads what the server sent it meanwhile
      expect(code).toBe(0);
      const got = await dl.done;
      expect(got.code).not.toBe(0); // curl: transfer closed with data outstanding
      expect(readFileSync(out).length).toBeLessThan(BIG);
      const t = await tftp.result;
      expect(t.error).toEqual({ code: 0, message: 'Server shutting down' });
      expect(t.data.length).toBeLessThan(LOADER_SIZE);

      const cut = s.lines().find((l) => l.msg.startsWith('shutdown deadline: cut GET /assets/big.img'));
      expect(cut).toMatchObject({ method: 'GET', url: '/assets/big.img' });
      expect(s.lines().find((l) => l.msg.startsWith('stopped after'))).toMatchObject({ httpFinished: 0, httpCut: 1, tftpCut: 1 });
      // The cut ones are in the event log too.
      const events = await run(process.execPath, [CLI, 'events', '--data-dir', s.dataDir]);
      expect(events.stdout).toMatch(/asset\s+200 \/assets\/big\.img → 200, aborted after \d+ of 67108864 bytes/);
      expect(events.stdout).toMatch(/tftp\s+503 undionly\.kpxe → aborted: Server shutting down/);
    } finally {
      await afterExit(s);
    }
  });

  it('a second signal stops at once, without waiting for the deadline', async () => {
    const s = await startServer([...roots(), '--shutdown-deadline', '600'], { tftp: false });
    try {
      const dl = curl(['--limit-rate', '8M', `${s.baseUrl}/assets/big.img`], join(dir, 'twice.img'));
      await dl.received(64 * 1024);
      signal(s, 'SIGINT');
      await s.waitLog((l) => l.msg.startsWith('stopping:'), 'stopping: …');
      signal(s, 'SIGINT');
      expect(await s.exited).toBe(1);
      expect((await dl.done).code).not.toBe(0);
      expect(s.lines().some((l) => l.msg === 'SIGINT again: stopping now, cutting what still runs')).toBe(true);
      expect(s.lines().find((l) => l.msg.startsWith('stopped after'))).toMatchObject({ httpCut: 1 });
    } finally {
      await afterExit(s);
    }
  });
});

/**
 * /assets/… and /loaders/… over a real loopback socket, the way `serve` runs
 * them (Node response written directly), plus the same routes through
 * createApp() and app.request() for the wiring and the web-stream path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, renameSync, symlinkSync, truncateSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { makeStack } from '../helpers/services.js';
import { fileBytes, markerAt, multipartParts, RawConnection, rawRequest, sparseMarkedFile, startFileServer, tempDir, type FileServer } from './assets-helpers.js';

const KERNEL = Buffer.from('KERNEL-0123456789abcdefghijklmnopqrstuvwxyz'.repeat(100));
const GiB = 2 ** 30;
const BIG = 5 * GiB + 12345; // over 4 GiB, sparse

let tmp: ReturnType<typeof tempDir>;
let root: string;
let srv: FileServer;

beforeAll(async () => {
  tmp = tempDir('chainboot-assets-');
  root = join(tmp.dir, 'assets');
  mkdirSync(join(root, 'debian12'), { recursive: true });
  mkdirSync(join(root, 'rocky9', 'images'), { recursive: true });
  mkdirSync(join(root, '.git'), { recursive: true });
  mkdirSync(join(root, 'win'), { recursive: true });
  mkdirSync(join(root, 'images'), { recursive: true });
  writeFileSync(join(root, 'debian12', 'linux'), KERNEL);
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'rocky9', '.treeinfo'), '[general]\nfamily = Rocky Linux\n');
  writeFileSync(join(root, 'rocky9', '.discinfo'), '1700000000.0\nRocky Linux 9\nx86_64\n');
  writeFileSync(join(root, 'rocky9', '.hidden'), 'secret');
  writeFileSync(join(root, '.htpasswd'), 'secret');
  writeFileSync(join(root, '.git', 'config'), 'secret');
  symlinkSync('.git/config', join(root, 'gitconfig'));
  writeFileSync(join(tmp.dir, 'outside.txt'), 'outside');
  symlinkSync(join(tmp.dir, 'outside.txt'), join(root, 'escape'));
  symlinkSync(join(root, 'debian12', 'linux'), join(root, 'kernel-link'));
  for (const [name, body] of [
    ['ipxe.efi', 'MZ'],
    ['undionly.kpxe', 'PXE'],
    ['winpe.iso', 'CD001'],
    ['win/boot.wim', 'MSWIM'],
    ['disk.img', 'IMG'],
    ['ks.cfg', 'text'],
    ['menu.ipxe', '#!ipxe\n'],
  ] as const)
    writeFileSync(join(root, name), body);
  sparseMarkedFile(join(root, 'big.img'), BIG);
  // A split image set: 3 segments of unequal size, plus a lone image.
  writeFileSync(join(root, 'images', 'disk.img'), Buffer.alloc(1000, 'a'));
  writeFileSync(join(root, 'images', 'disk.002'), Buffer.alloc(1000, 'b'));
  writeFileSync(join(root, 'images', 'disk.003'), Buffer.alloc(500, 'c'));
  writeFileSync(join(root, 'images', 'disk.005'), Buffer.alloc(10, 'x')); // after a gap: not part of the set
  writeFileSync(join(root, 'images', 'lone.img'), Buffer.alloc(10, 'l'));
  writeFileSync(join(root, 'images', 'bad.img'), Buffer.alloc(10, 'a'));
  symlinkSync(join(tmp.dir, 'outside.txt'), join(root, 'images', 'bad.002'));
  srv = await startFileServer({ assetRoot: root });
});

afterAll(async () => {
  await srv?.close();
  tmp?.remove();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${srv.url}${path}`, { headers });
const body = async (r: Response) => Buffer.from(await r.arrayBuffer());

describe('GET and HEAD', () => {
  it('serves a file with validators and Accept-Ranges, and records the response', async () => {
    const t0 = Date.now();
    const res = await get('/assets/debian12/linux', { 'user-agent': 'iPXE/1.21.1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(KERNEL.length));
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{24}"$/);
    const mtime = statSync(join(root, 'debian12', 'linux')).mtimeMs;
    if (mtime <= t0) expect(res.headers.get('last-modified')).toBe(new Date(mtime).toUTCString());
    else {
      // The file system stamped the file by a clock ahead of ours (seen in CI: one second):
      // Last-Modified is then the response time, never later than the Date field (RFC 9110 §8.8.2.1).
      const lastModified = Date.parse(res.headers.get('last-modified')!);
      expect(lastModified).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000);
      expect(lastModified).toBeLessThanOrEqual(Date.parse(res.headers.get('date')!));
    }
    expect(await body(res)).toEqual(KERNEL);
    const ev = await srv.events.next((e) => e.request === '/assets/debian12/linux');
    expect(ev).toMatchObject({ kind: 'asset', status: 200, clientIp: '127.0.0.1', result: '200' });
    expect(ev.detail).toMatchObject({ path: 'debian12/linux', bytes: KERNEL.length, length: KERNEL.length, size: KERNEL.length, ua: 'iPXE/1.21.1' });
    expect(typeof ev.detail.ms).toBe('number');
  });

  it('HEAD: the GET headers, no body, a Range ignored (RFC 9110 §14.2)', async () => {
    const c = new RawConnection(srv.port);
    c.send('HEAD /assets/debian12/linux HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n');
    const h = await c.response(true);
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(KERNEL.length));
    expect(h.headers['content-range']).toBeUndefined();
    // The connection is still in step: the next response is the next request's.
    c.send('GET /assets/debian12/linux HTTP/1.1\r\nHost: x\r\nRange: bytes=0-5\r\n\r\n');
    const g = await c.response();
    expect(g.status).toBe(206);
    expect(g.body.toString()).toBe('KERNEL');
    c.close();
  });

  it('an empty file', async () => {
    const res = await get('/assets/empty');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('0');
    expect((await body(res)).length).toBe(0);
    expect((await get('/assets/empty', { range: 'bytes=0-' })).status).toBe(416);
    expect((await get('/assets/empty', { range: 'bytes=-5' })).status).toBe(200);
  });

  it.each([
    ['ipxe.efi', 'application/efi'],
    ['undionly.kpxe', 'application/octet-stream'],
    ['winpe.iso', 'application/x-iso9660-image'],
    ['win/boot.wim', 'application/x-ms-wim'],
    ['disk.img', 'application/octet-stream'],
    ['ks.cfg', 'text/plain; charset=utf-8'],
    ['menu.ipxe', 'text/plain; charset=utf-8'],
  ])('Content-Type of %s is %s', async (name, type) => {
    const res = await get(`/assets/${name}`);
    expect(res.headers.get('content-type')).toBe(type);
    await res.arrayBuffer();
  });

  it('other methods: 405 with Allow', async () => {
    const res = await fetch(`${srv.url}/assets/debian12/linux`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('ranges', () => {
  it('single, open-ended and suffix ranges', async () => {
    for (const [range, start, end] of [
      ['bytes=0-5', 0, 5],
      ['bytes=100-', 100, KERNEL.length - 1],
      ['bytes=-7', KERNEL.length - 7, KERNEL.length - 1],
      ['bytes=10-99999', 10, KERNEL.length - 1],
    ] as const) {
      const res = await get('/assets/debian12/linux', { range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${KERNEL.length}`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(await body(res)).toEqual(KERNEL.subarray(start, end + 1));
    }
  });

  it('several ranges: multipart/byteranges in the order asked, each part framed and exact', async () => {
    const res = await get('/assets/debian12/linux', { range: 'bytes=500-599, 0-9, -5' });
    expect(res.status).toBe(206);
    const type = res.headers.get('content-type')!;
    expect(type).toMatch(/^multipart\/byteranges; boundary=chainboot-[0-9a-f]{24}$/);
    const b = await body(res);
    expect(String(b.length)).toBe(res.headers.get('content-length'));
    const parts = multipartParts(b, type);
    expect(parts.map((p) => p.headers['content-range'])).toEqual([
      `bytes 500-599/${KERNEL.length}`,
      `bytes 0-9/${KERNEL.length}`,
      `bytes ${KERNEL.length - 5}-${KERNEL.length - 1}/${KERNEL.length}`,
    ]);
    expect(parts[0]!.data).toEqual(KERNEL.subarray(500, 600));
    expect(parts[1]!.data).toEqual(KERNEL.subarray(0, 10));
    expect(parts[2]!.data).toEqual(KERNEL.subarray(KERNEL.length - 5));
    expect(parts.every((p) => p.headers['content-type'] === 'application/octet-stream')).toBe(true);
    const ev = await srv.events.next((e) => e.detail.range === 'bytes=500-599, 0-9, -5');
    expect(ev.detail).toMatchObject({ ranges: 3, bytes: b.length });
  });

  it('overlapping and adjacent ranges are coalesced (§15.3.7.2): one part, sorted', async () => {
    const res = await get('/assets/debian12/linux', { range: 'bytes=20-29,0-9,10-19,5-25' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 0-29/${KERNEL.length}`);
    expect(await body(res)).toEqual(KERNEL.subarray(0, 30));
  });

  it('unsatisfiable: 416 with Content-Range bytes */size', async () => {
    const res = await get('/assets/debian12/linux', { range: `bytes=${KERNEL.length}-` });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${KERNEL.length}`);
    await res.arrayBuffer();
    const ev = await srv.events.next((e) => e.status === 416);
    expect(ev.result).toContain('416');
  });

  it.each(['bytes=5-1', 'bytes=abc', 'bytes 0-1', 'pages=1-2', 'bytes=0-1,,x'])('syntactically bad Range %j: ignored, the full 200', async (range) => {
    const res = await get('/assets/debian12/linux', { range });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-range')).toBeNull();
    expect(await body(res)).toEqual(KERNEL);
  });

  it('files over 4 GiB: length, and ranges past 4 GiB land on the right bytes', async () => {
    const path = join(root, 'big.img');
    const head = await fetch(`${srv.url}/assets/big.img`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(BIG));
    const at = 5 * GiB; // a marker offset (every MiB)
    for (const [range, start, end] of [
      [`bytes=${at}-${at + 31}`, at, at + 31],
      [`bytes=${4 * GiB - 16}-${4 * GiB + 15}`, 4 * GiB - 16, 4 * GiB + 15],
      ['bytes=-100', BIG - 100, BIG - 1],
    ] as const) {
      const res = await get('/assets/big.img', { range });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${BIG}`);
      expect(await body(res)).toEqual(await fileBytes(path, start, end));
    }
    const marker = await body(await get('/assets/big.img', { range: `bytes=${at}-${at + 31}` }));
    expect(marker).toEqual(markerAt(at));
  });
});

describe('conditional requests', () => {
  it('If-None-Match and If-Modified-Since: 304 with the ETag and no body', async () => {
    const first = await get('/assets/debian12/linux');
    await first.arrayBuffer();
    const etag = first.headers.get('etag')!;
    const lm = first.headers.get('last-modified')!;
    for (const h of [{ 'if-none-match': etag }, { 'if-none-match': `"other", ${etag}` }, { 'if-modified-since': lm }, { 'if-none-match': '*' }] as Record<string, string>[]) {
      const res = await get('/assets/debian12/linux', h);
      expect(res.status, JSON.stringify(h)).toBe(304);
      expect(res.headers.get('etag')).toBe(etag);
      expect((await body(res)).length).toBe(0);
    }
    const changed = await get('/assets/debian12/linux', { 'if-none-match': '"other"', 'if-modified-since': lm });
    expect(changed.status).toBe(200);
    await changed.arrayBuffer();
  });

  it('If-Range: the range while the validator holds, the whole new file once it changed', async () => {
    const path = join(root, 'changing.bin');
    writeFileSync(path, 'version-one-version-one');
    utimesSync(path, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    const v1 = await get('/assets/changing.bin');
    await v1.arrayBuffer();
    const etag = v1.headers.get('etag')!;
    const lm = v1.headers.get('last-modified')!;
    const r1 = await get('/assets/changing.bin', { range: 'bytes=8-10', 'if-range': etag });
    expect(r1.status).toBe(206);
    expect(await r1.text()).toBe('one');
    const r2 = await get('/assets/changing.bin', { range: 'bytes=8-10', 'if-range': lm });
    expect(r2.status).toBe(206);
    await r2.arrayBuffer();
    // Replaced by rename, as a mirror script would: new inode, new mtime.
    writeFileSync(path + '.new', 'VERSION-TWO-VERSION-TWO');
    renameSync(path + '.new', path);
    const r3 = await get('/assets/changing.bin', { range: 'bytes=8-10', 'if-range': etag });
    expect(r3.status).toBe(200);
    expect(r3.headers.get('etag')).not.toBe(etag);
    expect(await r3.text()).toBe('VERSION-TWO-VERSION-TWO');
  });

  it('If-Match that fails: 412', async () => {
    const res = await get('/assets/debian12/linux', { 'if-match': '"nope"' });
    expect(res.status).toBe(412);
    await res.arrayBuffer();
  });
});

describe('split image sets (name.img?joined)', () => {
  const joined = Buffer.concat([Buffer.alloc(1000, 'a'), Buffer.alloc(1000, 'b'), Buffer.alloc(500, 'c')]);

  it('serves name.img + name.002 + name.003 as one file, stopping at the first gap', async () => {
    const res = await get('/assets/images/disk.img?joined');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('2500');
    expect(await body(res)).toEqual(joined);
    const ev = await srv.events.next((e) => e.request === '/assets/images/disk.img?joined');
    expect(ev.detail).toMatchObject({ segments: 3, size: 2500, bytes: 2500 });
    const plain = await get('/assets/images/disk.img');
    expect(plain.headers.get('content-length')).toBe('1000');
    expect(plain.headers.get('etag')).not.toBe(res.headers.get('etag'));
    await plain.arrayBuffer();
  });

  it('ranges that cross segment boundaries, single and multipart', async () => {
    const one = await get('/assets/images/disk.img?joined', { range: 'bytes=995-2004' });
    expect(one.status).toBe(206);
    expect(one.headers.get('content-range')).toBe('bytes 995-2004/2500');
    expect(await body(one)).toEqual(joined.subarray(995, 2005));
    const multi = await get('/assets/images/disk.img?joined', { range: 'bytes=999-1000,1999-2000,-3' });
    const parts = multipartParts(await body(multi), multi.headers.get('content-type')!);
    expect(parts.map((p) => p.data.toString())).toEqual(['ab', 'bc', 'ccc']);
  });

  it('one ETag over every segment: touching a later segment changes it', async () => {
    const before = (await fetch(`${srv.url}/assets/images/disk.img?joined`, { method: 'HEAD' })).headers.get('etag');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(root, 'images', 'disk.003'), later, later);
    const after = (await fetch(`${srv.url}/assets/images/disk.img?joined`, { method: 'HEAD' })).headers.get('etag');
    expect(after).not.toBe(before);
    const stale = await get('/assets/images/disk.img?joined', { range: 'bytes=0-0', 'if-range': before! });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('a set of one file is that file; a segment symlinked out of the root refuses the set', async () => {
    const lone = await get('/assets/images/lone.img?joined');
    expect(await lone.text()).toBe('llllllllll');
    const bad = await get('/assets/images/bad.img?joined');
    expect(bad.status).toBe(403);
    expect(await bad.text()).not.toContain('outside');
  });
});

describe('what is not served', () => {
  it('installer metadata .treeinfo and .discinfo are served; other hidden files are not', async () => {
    const t = await get('/assets/rocky9/.treeinfo');
    expect(t.status).toBe(200);
    expect(t.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await t.text()).toContain('Rocky Linux');
    expect((await get('/assets/rocky9/.discinfo')).status).toBe(200);
    for (const p of ['/assets/rocky9/.hidden', '/assets/.htpasswd', '/assets/.git/config', '/assets/.treeinfo/x', '/assets/rocky9/.TREEINFO', '/assets/gitconfig', '/assets/.git/.treeinfo']) {
      const res = await get(p);
      expect(res.status, p).toBe(404);
      expect(await res.text()).not.toContain('secret');
    }
  });

  it('a symlink inside the root to a file inside it is followed', async () => {
    expect(await body(await get('/assets/kernel-link'))).toEqual(KERNEL);
  });

  // Sent over a raw socket: fetch() would normalise the path before sending.
  it.each([
    ['GET /assets/../outside.txt', [400, 403, 404]],
    ['GET /assets/debian12/../../outside.txt', [400, 403, 404]],
    ['GET /assets/%2e%2e/outside.txt', [400, 403, 404]],
    ['GET /assets/%2E%2E/%2e%2E/outside.txt', [400, 403, 404]],
    ['GET /assets/debian12%2f..%2f..%2foutside.txt', [403]],
    ['GET /assets/debian12%2F..%2F..%2Foutside.txt', [403]],
    ['GET /assets/debian12\\..\\..\\outside.txt', [400, 403, 404]],
    ['GET /assets/debian12%5c..%5c..%5coutside.txt', [403]],
    ['GET /assets/debian12/linux%00', [403]],
    ['GET /assets/debian12/linux%00.txt', [403]],
    ['GET /assets/%0a', [403]],
    ['GET /assets//etc/passwd', [403]],
    ['GET /assets/%2fetc%2fpasswd', [403]],
    ['GET /assets/escape', [403]],
    ['GET /assets/%zz', [400]],
    ['GET http://127.0.0.1/assets/../outside.txt', [400, 403, 404]],
    ['GET /assets/debian12', [404]],
    ['GET /assets/', [404]],
    ['GET /assets/images/bad.002', [403]],
  ])('%s is refused', async (line, statuses) => {
    const res = await rawRequest(srv.port, `${line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(statuses).toContain(res.status);
    expect(res.body.toString('latin1')).not.toContain('outside');
    expect(res.body.toString('latin1')).not.toContain('root:');
  });
});

describe('a file that changes under a download', () => {
  it('is cut short, never spliced: the client sees a short body and the event says why', async () => {
    const path = join(root, 'shrinking.img');
    sparseMarkedFile(path, 256 * 2 ** 20);
    const c = new RawConnection(srv.port);
    // Hold the client still once the first bytes arrive, so the server can be
    // no further ahead than the socket buffers, then take the file's tail away.
    const started = new Promise<void>((resolve) =>
      c.socket.once('data', () => {
        c.socket.pause();
        resolve();
      }),
    );
    c.send('GET /assets/shrinking.img HTTP/1.1\r\nHost: x\r\n\r\n');
    await started;
    truncateSync(path, 128 * 2 ** 20);
    c.socket.resume();
    const rest = await c.rest();
    expect(rest.length).toBeLessThan(256 * 2 ** 20);
    const ev = await srv.events.next((e) => e.request === '/assets/shrinking.img');
    expect(ev.detail.aborted).toBe(true);
    expect(ev.result).toMatch(/ended early|changed/);
  });
});

describe('through createApp (serve wiring)', () => {
  it('app.request(): the web-stream path gives the same answers', async () => {
    const { app } = await makeStack({ assetRoot: root });
    const res = await app.request('/assets/debian12/linux', { headers: { range: 'bytes=0-5,-3' } });
    expect(res.status).toBe(206);
    const parts = multipartParts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(parts.map((p) => p.data.toString())).toEqual(['KERNEL', 'xyz']);
    const joined = await app.request('/assets/images/disk.img?joined', { headers: { range: 'bytes=998-1001' } });
    expect(await joined.text()).toBe('aabb');
    const head = await app.request('/assets/big.img', { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(BIG));
  });

  it('asset events carry the MAC that last booted from the client address, into the boot event log', async () => {
    const stack = await makeStack({ assetRoot: root });
    // Told when each asset response is recorded (at its end), instead of guessing when.
    const recorded: string[] = [];
    let notify = () => {};
    const record = stack.events.record.bind(stack.events);
    stack.events.record = (e, facts) => {
      record(e, facts);
      if (e.kind === 'asset') {
        recorded.push(e.request);
        notify();
      }
    };
    const recordedCount = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (recorded.length >= n ? resolve() : void (notify = check));
        check();
      });
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: stack.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    try {
      const addr = server.address();
      const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      await (await fetch(`${base}/assets/debian12/linux`)).arrayBuffer();
      await (await fetch(`${base}/ipxe?mac=52:54:00:aa:bb:cc`)).text();
      await (await fetch(`${base}/assets/debian12/linux`, { headers: { range: 'bytes=0-5' } })).arrayBuffer();
      await (await fetch(`${base}/assets/nope`)).arrayBuffer();
      await recordedCount(3);
      await stack.events.flush();
      const assets = await stack.store.listEvents({ kinds: ['asset'] });
      expect(assets.map((e) => [e.request, e.status, e.mac]).sort()).toEqual([
        ['/assets/debian12/linux', 200, null],
        ['/assets/debian12/linux', 206, '52:54:00:aa:bb:cc'],
        ['/assets/nope', 404, '52:54:00:aa:bb:cc'],
      ]);
      const ranged = assets.find((e) => e.status === 206)!;
      expect(ranged.detail).toMatchObject({ path: 'debian12/linux', range: 'bytes=0-5', bytes: 6 });
      expect(ranged.clientIp).toBe('127.0.0.1');
      // The boot timeline for the host shows its assets beside its script.
      expect((await stack.store.listEvents({ mac: '52:54:00:aa:bb:cc' })).map((e) => e.kind).sort()).toEqual(['asset', 'asset', 'script']);
    } finally {
      server.close();
    }
  });

  // Moved here from test/http/boot.test.ts ("static files").
  it('streams a file under the asset root', async () => {
    const { app } = await makeStack({ assetRoot: root });
    const res = await app.request('/assets/debian12/linux');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(KERNEL.length));
    expect(Buffer.from(await res.arrayBuffer())).toEqual(KERNEL);
    const head = await app.request('/assets/debian12/linux', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it.each([
    ['/assets/../outside.txt', [403, 404]],
    // fetch-style URL parsing already turns %2e%2e into .. and removes it; the raw-socket cases above reach resolveInRoot.
    ['/assets/%2e%2e/outside.txt', [403, 404]],
    ['/assets/debian12%2f..%2f..%2foutside.txt', [403]],
    ['/assets/debian12\\..\\..\\outside.txt', [403, 404]],
    ['/assets/debian12/linux%00', [403]],
    ['/assets/.htpasswd', [404]],
    ['/assets/escape', [403]],
    ['/assets/debian12', [404]],
    ['/assets/%zz', [400]],
  ])('app.request refuses %s', async (path, statuses) => {
    const { app } = await makeStack({ assetRoot: root });
    const res = await app.request(path);
    expect(statuses).toContain(res.status);
    const text = await res.text();
    expect(text).not.toContain('outside');
    expect(text).not.toContain('secret');
  });
});

describe('loaders', () => {
  it('/loaders/:name with ranges, recorded as kind loader', async () => {
    const ldir = tempDir('chainboot-loaders-');
    try {
      writeFileSync(join(ldir.dir, 'undionly.kpxe'), 'UNDIONLY-LOADER');
      const s = await startFileServer({ assetRoot: root, loaderRoot: ldir.dir });
      try {
        const res = await fetch(`${s.url}/loaders/undionly.kpxe`, { headers: { range: 'bytes=0-7' } });
        expect(res.status).toBe(206);
        expect(await res.text()).toBe('UNDIONLY');
        const ev = await s.events.next((e) => e.kind === 'loader');
        expect(ev).toMatchObject({ request: '/loaders/undionly.kpxe', status: 206 });
        expect((await fetch(`${s.url}/loaders/..%2f..%2fetc%2fpasswd`)).status).toBe(404);
      } finally {
        await s.close();
      }
    } finally {
      ldir.remove();
    }
  });
});


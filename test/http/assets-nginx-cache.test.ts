/**
 * A site cache in front of chainboot: a real nginx (Debian package, started
 * here on loopback with its own config, `daemon off`) as a caching reverse
 * proxy with the slice module, the setup a remote site would run. The first
 * client's download fills the cache slice by slice; a second client, its
 * ranges and its conditional requests are then answered from the cache, and
 * chainboot sends no byte again. nginx's slice module also checks that every
 * slice carries the same ETag, which is what a strong validator is for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/process.js';
import { startNginxCache, type NginxCache } from '../helpers/nginx-cache.js';
import { expectSameBytes, fileBytes, requireTool, sha256File, sparseMarkedFile, startFileServer, tempDir, type FileServer } from './assets-helpers.js';

const MiB = 2 ** 20;
const SIZE = 24 * MiB + 1234; // not a whole number of slices
const SLICES = Math.ceil(SIZE / MiB);

let tmp: ReturnType<typeof tempDir>;
let srv: FileServer;
let cache: NginxCache;
let cacheUrl: string;
let src: string;
let srcSha: string;

beforeAll(async () => {
  tmp = tempDir('chainboot-nginx-cache-');
  const root = join(tmp.dir, 'assets');
  mkdirSync(join(root, 'rocky9'), { recursive: true });
  src = join(root, 'rocky9', 'install.img');
  sparseMarkedFile(src, SIZE, 64 * 1024);
  srcSha = await sha256File(src);
  srv = await startFileServer({ assetRoot: root });
  cache = await startNginxCache({ dir: join(tmp.dir, 'nginx'), upstreamPort: srv.port });
  cacheUrl = cache.url;
}, 60_000);

afterAll(async () => {
  await cache?.close();
  await srv?.close();
  tmp?.remove();
});

async function curl(args: string[]): Promise<string> {
  requireTool('curl');
  const r = await run('curl', ['-sS', '--fail', '--max-time', '60', ...args]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const fromChainboot = () => srv.events.events.filter((e) => e.request === '/assets/rocky9/install.img');

describe('nginx proxy_cache + slice in front of chainboot', () => {
  it('the first client fills the cache: chainboot sends every byte once, as 1 MiB ranges', async () => {
    const out = join(tmp.dir, 'first.img');
    const headers = await curl(['-D', '-', '-o', out, `${cacheUrl}/assets/rocky9/install.img`]);
    expect(headers).toMatch(/^HTTP\/1\.1 200 /);
    expect(headers).toMatch(/X-Cache-Status: MISS/i);
    expect(await sha256File(out)).toBe(srcSha);
    const slices = await srv.events.count((e) => e.request === '/assets/rocky9/install.img', SLICES);
    expect(slices).toHaveLength(SLICES);
    expect(slices.every((e) => e.status === 206 && /^bytes=\d+-\d+$/.test(String(e.detail.range)))).toBe(true);
    expect(srv.events.bytes((e) => e.request === '/assets/rocky9/install.img')).toBe(SIZE);
    // The client sees chainboot's validators through the cache.
    const etag = /ETag: (.*)\r\n/i.exec(headers)?.[1];
    const direct = await fetch(`${srv.url}/assets/rocky9/install.img`, { method: 'HEAD' });
    expect(etag).toBe(direct.headers.get('etag'));
    expect(headers).toContain(`Last-Modified: ${direct.headers.get('last-modified')}`);
  });

  it('a second client, its ranges and its conditional requests come from the cache: chainboot sends nothing', async () => {
    const arrivals = srv.arrivals.length;
    const sent = srv.events.bytes();
    const events = fromChainboot().length;

    const out = join(tmp.dir, 'second.img');
    const headers = await curl(['-D', '-', '-o', out, `${cacheUrl}/assets/rocky9/install.img`]);
    expect(headers).toMatch(/X-Cache-Status: HIT/i);
    expect(await sha256File(out)).toBe(srcSha);

    // Ranges, answered from the cached slices, including one across a slice boundary and a suffix.
    for (const [range, start, end] of [
      ['5000000-5999999', 5_000_000, 5_999_999],
      [`${MiB - 10}-${MiB + 9}`, MiB - 10, MiB + 9],
      ['-1234', SIZE - 1234, SIZE - 1],
    ] as const) {
      const part = join(tmp.dir, 'part');
      const h = await curl(['-D', '-', '-r', range, '-o', part, `${cacheUrl}/assets/rocky9/install.img`]);
      expect(h, range).toMatch(/^HTTP\/1\.1 206 /);
      expect(h).toContain(`Content-Range: bytes ${start}-${end}/${SIZE}`);
      expectSameBytes(readFileSync(part), await fileBytes(src, start, end), range);
    }
    // Several ranges: nginx's slice module does not build multipart answers
    // (chainboot does, see assets.test.ts); it sends the whole file instead,
    // and still from its cache.
    const multi = await curl(['-D', '-', '-r', '0-9,20000000-20000009', '-o', join(tmp.dir, 'multi'), `${cacheUrl}/assets/rocky9/install.img`]);
    expect(multi).toMatch(/^HTTP\/1\.1 200 /);
    expect(await sha256File(join(tmp.dir, 'multi'))).toBe(srcSha);

    // Parallel range downloads by a second kind of client.
    requireTool('aria2c');
    const a = await run('aria2c', ['-x', '4', '-s', '4', '-k', '1M', '--min-split-size=1M', '--file-allocation=none', '--allow-overwrite=true', '--auto-file-renaming=false', '--console-log-level=warn', '--summary-interval=0', '-d', tmp.dir, '-o', 'third.img', `${cacheUrl}/assets/rocky9/install.img`]);
    expect(a.code, a.stderr + a.stdout).toBe(0);
    expect(await sha256File(join(tmp.dir, 'third.img'))).toBe(srcSha);

    // Revalidation by the client: the cache answers 304 itself from chainboot's validators.
    const etag = /ETag: (.*)\r\n/i.exec(headers)![1]!;
    const cond = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-H', `If-None-Match: ${etag}`, `${cacheUrl}/assets/rocky9/install.img`]);
    expect(cond.stdout).toMatch(/^HTTP\/1\.1 304 /);

    // Any request that reached chainboot would have arrived before its bytes
    // could be served, so by now it would be in the arrivals list.
    expect(srv.arrivals.slice(arrivals)).toEqual([]);
    expect(fromChainboot()).toHaveLength(events);
    expect(srv.events.bytes()).toBe(sent);
  }, 60_000);
});

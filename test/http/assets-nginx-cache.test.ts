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
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run } from '../helpers/process.js';
import { expectSameBytes, fileBytes, requireTool, sha256File, sparseMarkedFile, startFileServer, tempDir, type FileServer } from './assets-helpers.js';

const MiB = 2 ** 20;
const SIZE = 24 * MiB + 1234; // not a whole number of slices
const SLICES = Math.ceil(SIZE / MiB);
const NGINX = '/usr/sbin/nginx';

let tmp: ReturnType<typeof tempDir>;
let srv: FileServer;
let nginx: ChildProcess | undefined;
let nginxExit: Promise<void>;
let cacheUrl: string;
let src: string;
let srcSha: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Resolves when `file` exists, watching its directory rather than polling. */
function appears(file: string, what: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = file.slice(0, file.lastIndexOf('/'));
    const w = watch(dir, () => {
      if (existsSync(file)) {
        w.close();
        resolve();
      }
    });
    if (existsSync(file)) {
      w.close();
      resolve();
    }
    nginxExit.then(() => {
      w.close();
      reject(new Error(`nginx exited before it was ready:\n${what()}`));
    });
  });
}

beforeAll(async () => {
  requireTool('nginx', NGINX);
  const v = await run(NGINX, ['-V']);
  if (!v.stderr.includes('--with-http_slice_module')) throw new Error(`${NGINX} has no slice module (nginx -V); install Debian's nginx: sudo scripts/install-asset-test-deps.sh`);

  tmp = tempDir('chainboot-nginx-cache-');
  const root = join(tmp.dir, 'assets');
  mkdirSync(join(root, 'rocky9'), { recursive: true });
  src = join(root, 'rocky9', 'install.img');
  sparseMarkedFile(src, SIZE, 64 * 1024);
  srcSha = await sha256File(src);
  srv = await startFileServer({ assetRoot: root });

  const ng = join(tmp.dir, 'nginx');
  mkdirSync(join(ng, 'cache'), { recursive: true });
  const port = await freePort();
  const pid = join(ng, 'nginx.pid');
  // As root, nginx would drop its worker to "nobody", who cannot write the cache in our 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  writeFileSync(
    join(ng, 'nginx.conf'),
    `${user}
daemon off;
worker_processes 1;
pid ${pid};
error_log ${ng}/error.log notice;
events { worker_connections 256; }
http {
  log_format cache '$request_uri "$http_range" $status $upstream_cache_status';
  access_log ${ng}/access.log cache;
  client_body_temp_path ${ng}/body;
  proxy_temp_path ${ng}/proxy;
  fastcgi_temp_path ${ng}/fastcgi;
  uwsgi_temp_path ${ng}/uwsgi;
  scgi_temp_path ${ng}/scgi;
  proxy_cache_path ${ng}/cache levels=1:2 keys_zone=assets:10m max_size=1g inactive=1d use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location /assets/ {
      # Fetch and cache 1 MiB slices with Range requests, whatever the client asked.
      slice 1m;
      proxy_cache assets;
      proxy_cache_key $scheme$proxy_host$request_uri$slice_range;
      proxy_set_header Range $slice_range;
      proxy_cache_valid 200 206 1h;
      proxy_cache_lock on;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://127.0.0.1:${srv.port};
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`,
  );
  nginx = spawn(NGINX, ['-p', ng, '-c', join(ng, 'nginx.conf'), '-e', join(ng, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  nginx.stdout!.on('data', (d) => (output += d));
  nginx.stderr!.on('data', (d) => (output += d));
  nginxExit = new Promise((resolve) => nginx!.once('exit', () => resolve()));
  // nginx writes its pid file once its sockets are bound.
  await appears(pid, () => output + (existsSync(join(ng, 'error.log')) ? readFileSync(join(ng, 'error.log'), 'utf8') : ''));
  cacheUrl = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    // Our own nginx, by its PID: SIGTERM is its fast shutdown; the master takes its worker along.
    nginx.kill('SIGTERM');
    await nginxExit;
  }
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

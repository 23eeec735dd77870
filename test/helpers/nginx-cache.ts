/**
 * A site cache for tests: Debian's nginx as a caching reverse proxy with the
 * slice module in front of a chainboot on loopback, the setup README's
 * "Caching at the edge" describes. Started with its own config and prefix,
 * `daemon off`, stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run } from './process.js';

export const NGINX = '/usr/sbin/nginx';

export interface NginxCache {
  url: string;
  port: number;
  /** Lines of its access log: `$request_uri "$http_range" $status $upstream_cache_status`. */
  accessLog(): string[];
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Resolves when `file` exists (watching its directory, not polling); rejects when `exited` settles first. */
function appears(file: string, exited: Promise<void>, what: () => string): Promise<void> {
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
    exited.then(() => {
      w.close();
      reject(new Error(`nginx exited before it was ready:\n${what()}`));
    });
  });
}

/**
 * Starts nginx caching `location` (default /assets/) of the upstream in 1 MiB
 * slices; the cache key is the whole request URI (query included) plus the
 * slice, as nginx's default key is.
 */
export async function startNginxCache(opts: {
  dir: string;
  upstreamPort: number;
  /** Default 127.0.0.1 (the centre's address as the cache reaches it). */
  upstreamHost?: string;
  /** Address to listen on; default 127.0.0.1. */
  listen?: string;
  /** Port to listen on; default a free one on this host's loopback (give one when `netns` is set). */
  port?: number;
  /** Run nginx inside this network namespace (benchmarks' site namespaces). */
  netns?: string;
  location?: string;
  maxSize?: string;
}): Promise<NginxCache> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: install Debian's nginx (sudo scripts/install-asset-test-deps.sh)`);
  const v = await run(NGINX, ['-V']);
  if (!v.stderr.includes('--with-http_slice_module')) throw new Error(`${NGINX} has no slice module (nginx -V); install Debian's nginx: sudo scripts/install-asset-test-deps.sh`);
  const ng = opts.dir;
  mkdirSync(join(ng, 'cache'), { recursive: true });
  const port = opts.port ?? (await freePort());
  const listen = opts.listen ?? '127.0.0.1';
  const pid = join(ng, 'nginx.pid');
  // As root, nginx would drop its worker to "nobody", who cannot write the cache in a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  const location = opts.location ?? '/assets/';
  writeFileSync(
    join(ng, 'nginx.conf'),
    `${user}
daemon off;
worker_processes 1;
pid ${pid};
error_log ${ng}/error.log notice;
events { worker_connections 1024; }
http {
  log_format cache '$request_uri "$http_range" $status $upstream_cache_status';
  access_log ${ng}/access.log cache;
  client_body_temp_path ${ng}/body;
  proxy_temp_path ${ng}/proxy;
  fastcgi_temp_path ${ng}/fastcgi;
  uwsgi_temp_path ${ng}/uwsgi;
  scgi_temp_path ${ng}/scgi;
  proxy_cache_path ${ng}/cache levels=1:2 keys_zone=assets:10m max_size=${opts.maxSize ?? '1g'} inactive=1d use_temp_path=off;
  upstream centre {
    server ${opts.upstreamHost ?? '127.0.0.1'}:${opts.upstreamPort};
    keepalive 16;
  }
  server {
    listen ${listen}:${port};
    location ${location} {
      # Fetch and cache 1 MiB slices with Range requests, whatever the client asked.
      slice 1m;
      proxy_cache assets;
      proxy_cache_key $scheme$proxy_host$request_uri$slice_range;
      proxy_set_header Range $slice_range;
      proxy_cache_valid 200 206 1h;
      proxy_cache_lock on;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://centre;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`,
  );
  const args = ['-p', ng, '-c', join(ng, 'nginx.conf'), '-e', join(ng, 'error.log')];
  const proc: ChildProcess = opts.netns ? spawn('ip', ['netns', 'exec', opts.netns, NGINX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // nginx writes its pid file once its sockets are bound.
  await appears(pid, exited, () => output + (existsSync(join(ng, 'error.log')) ? readFileSync(join(ng, 'error.log'), 'utf8') : ''));
  return {
    url: `http://${listen}:${port}`,
    port,
    accessLog: () => (existsSync(join(ng, 'access.log')) ? readFileSync(join(ng, 'access.log'), 'utf8').split('\n').filter(Boolean) : []),
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        // Our own nginx, by its PID: SIGTERM is its fast shutdown; the master takes its worker along.
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

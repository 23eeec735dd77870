/**
 * Caching at the edge (issue 10): a remote site runs a standard nginx
 * (Debian's package) as a caching reverse proxy with the slice module, and
 * its site in chainboot names that cache as its asset base URL. A real
 * `serve` (in this process, HTTP only, on loopback) renders the scripts.
 *
 *  - the first client's 2 GiB image fills the cache; a second client, its
 *    ranges and a parallel downloader get it from the cache while the centre
 *    sends no byte (its /metrics byte counter for /assets does not move);
 *  - an admin replaces the kernel: the next script names a new ?v= URL, which
 *    the cache has never seen, so the client gets the new kernel, while the
 *    same path without the version would have been answered from the cache
 *    with the old one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { serve, type Running } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { run } from '../helpers/process.js';
import { startNginxCache, type NginxCache } from '../helpers/nginx-cache.js';
import { expectSameBytes, fileBytes, requireTool, sha256File, sparseMarkedFile, tempDir } from '../http/assets-helpers.js';

const GiB = 2 ** 30;
const SIZE = 2 * GiB + 4321; // a 2 GiB image, not a whole number of 1 MiB slices
const TOKEN = 'edge-cache-test-token-0123456789';
const MAC = '52:54:00:ed:9e:01';

let tmp: ReturnType<typeof tempDir>;
let running: Running;
let centre: string;
let cache: NginxCache;
let imageSha: string;
let root: string;

const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  fetch(`${centre}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
  });

/** Bytes the centre has written for /assets/… responses, from its own /metrics. */
async function centreAssetBytes(): Promise<number> {
  const text = await (await fetch(`${centre}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('chainboot_http_response_bytes_total{') && line.includes('route="/assets/*"')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function curl(args: string[]): Promise<string> {
  const r = await run('curl', ['-sS', '--fail', '--max-time', '300', ...args]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function script(): Promise<{ kernel: string; image: string }> {
  const text = await (await fetch(`${centre}/ipxe?mac=${MAC}`)).text();
  const kernel = /^kernel (\S+)/m.exec(text)?.[1];
  const image = /^initrd --name site\.img (\S+)/m.exec(text)?.[1];
  if (!kernel || !image) throw new Error(`unexpected script:\n${text}`);
  return { kernel, image };
}

beforeAll(async () => {
  requireTool('curl');
  tmp = tempDir('chainboot-edge-');
  root = join(tmp.dir, 'assets');
  mkdirSync(join(root, 'images'), { recursive: true });
  mkdirSync(join(root, 'k'), { recursive: true });
  sparseMarkedFile(join(root, 'images', 'site.img'), SIZE, 1024 * 1024);
  imageSha = await sha256File(join(root, 'images', 'site.img'));
  writeFileSync(join(root, 'k', 'vmlinuz'), 'kernel version one\n'.repeat(1000));

  const cfg = loadConfig({
    argv: ['--data-dir', join(tmp.dir, 'data'), '--http-host', '127.0.0.1', '--http-port', '0', '--advertise-ip', '127.0.0.1', '--tftp', 'off', '--dhcp', 'off', '--asset-root', root, '--loader-root', join(tmp.dir, 'loaders'), '--admin-token', TOKEN, '--log-level', 'silent'],
  });
  running = await serve(cfg, silentLogger);
  centre = `http://127.0.0.1:${running.port}`;
  cache = await startNginxCache({ dir: join(tmp.dir, 'nginx'), upstreamPort: running.port, maxSize: '4g' });

  for (const [path, json] of [
    ['/profiles', { name: 'imaging', kind: 'linux', kernel: 'k/vmlinuz', initrds: ['images/site.img'] }],
    ['/hosts', { mac: MAC, profile: 'imaging' }],
    // The test's clients all come from 127.0.0.1: that is the "site" here.
    ['/sites', { name: 'branch', subnets: ['127.0.0.0/8'], assetBaseUrl: `${cache.url}/assets` }],
  ] as const) {
    const r = await api(path, { method: 'POST', json });
    if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
  }
}, 120_000);

afterAll(async () => {
  await cache?.close();
  await running?.close({ immediate: true });
  tmp?.remove();
});

describe('a site cache (nginx proxy_cache + slice) named by the site’s asset base URL', () => {
  it('serves the second client a 2 GiB image and its ranges without the centre sending the bytes again', async () => {
    const { image } = await script();
    expect(image.startsWith(`${cache.url}/assets/images/site.img?v=`)).toBe(true);

    const before = await centreAssetBytes();
    const first = join(tmp.dir, 'first.img');
    const h1 = await curl(['-D', '-', '-o', first, image]);
    expect(h1).toMatch(/X-Cache-Status: MISS/i);
    expect(await sha256File(first)).toBe(imageSha);
    const filled = (await centreAssetBytes()) - before;
    // Every byte once (in 1 MiB slices), plus nothing to speak of.
    expect(filled).toBeGreaterThanOrEqual(SIZE);
    expect(filled).toBeLessThan(SIZE + 64 * 1024 * 1024);

    const afterFill = await centreAssetBytes();
    const second = join(tmp.dir, 'second.img');
    const h2 = await curl(['-D', '-', '-o', second, image]);
    expect(h2).toMatch(/X-Cache-Status: HIT/i);
    expect(await sha256File(second)).toBe(imageSha);
    for (const [range, start, end] of [
      ['1500000000-1500999999', 1_500_000_000, 1_500_999_999],
      [`${GiB - 10}-${GiB + 9}`, GiB - 10, GiB + 9],
      ['-4321', SIZE - 4321, SIZE - 1],
    ] as const) {
      const part = join(tmp.dir, 'part');
      const h = await curl(['-D', '-', '-r', range, '-o', part, image]);
      expect(h, range).toMatch(/^HTTP\/1\.1 206 /);
      expect(h).toContain(`Content-Range: bytes ${start}-${end}/${SIZE}`);
      expectSameBytes(readFileSync(part), await fileBytes(join(root, 'images', 'site.img'), start, end), range);
    }
    requireTool('aria2c');
    const a = await run('aria2c', ['-x', '8', '-s', '8', '-k', '1M', '--min-split-size=1M', '--file-allocation=none', '--allow-overwrite=true', '--auto-file-renaming=false', '--console-log-level=warn', '--summary-interval=0', '-d', tmp.dir, '-o', 'third.img', image]);
    expect(a.code, a.stderr + a.stdout).toBe(0);
    expect(await sha256File(join(tmp.dir, 'third.img'))).toBe(imageSha);
    expect((await centreAssetBytes()) - afterFill).toBe(0);
  }, 600_000);

  it('never serves a stale kernel through the cache after an admin replaces it: the script names a new URL', async () => {
    const old = await script();
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const oldBody = readFileSync(join(root, 'k', 'vmlinuz'));
    const unversioned = `${cache.url}/assets/k/vmlinuz`;
    // Both the versioned URL and the bare path are now in the cache.
    expect(sha(Buffer.from(await (await fetch(old.kernel)).arrayBuffer()))).toBe(sha(oldBody));
    expect(sha(Buffer.from(await (await fetch(unversioned)).arrayBuffer()))).toBe(sha(oldBody));

    // Replaced the way copy tools do it: a new file renamed over the old.
    const newBody = 'kernel version two\n'.repeat(1200);
    writeFileSync(join(root, 'k', 'vmlinuz.tmp'), newBody);
    renameSync(join(root, 'k', 'vmlinuz.tmp'), join(root, 'k', 'vmlinuz'));

    // Versions are looked up at most once a second: poll the script, with a deadline.
    let next = await script();
    const deadline = Date.now() + 10_000;
    while (next.kernel === old.kernel && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      next = await script();
    }
    expect(next.kernel).not.toBe(old.kernel);
    const fresh = await fetch(next.kernel);
    expect(fresh.headers.get('x-cache-status')).toBe('MISS');
    expect(sha(Buffer.from(await fresh.arrayBuffer()))).toBe(sha(newBody));
    // What an unversioned URL would have given: the old kernel, from the cache.
    const stale = await fetch(unversioned);
    expect(stale.headers.get('x-cache-status')).toBe('HIT');
    expect(sha(Buffer.from(await stale.arrayBuffer()))).toBe(sha(oldBody));
    // The image's URL did not change: its cached copy stays good.
    expect(next.image).toBe(old.image);
  }, 60_000);
});

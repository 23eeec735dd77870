/**
 * Real clients against the asset routes on loopback: curl (single, multiple
 * and suffix ranges, resume after an interrupted download), aria2c (8
 * parallel connections over a 1 GiB file, checked by sha256, and resume), and
 * the requests iPXE makes (HEAD for the size, 512-byte block ranges on one
 * kept-alive connection, then a plain download). A missing client fails the
 * test with the reason; nothing is skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/process.js';
import { expectSameBytes, fileBytes, markerAt, multipartParts, RawConnection, requireTool, sha256File, sparseMarkedFile, startFileServer, tempDir, type FileServer } from './assets-helpers.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
let tmp: ReturnType<typeof tempDir>;
let root: string;
let out: string;
let srv: FileServer;
let kernel: Buffer;
let bigSha: string;

beforeAll(async () => {
  tmp = tempDir('chainboot-asset-clients-');
  root = join(tmp.dir, 'assets');
  out = join(tmp.dir, 'out');
  mkdirSync(join(root, 'rocky9'), { recursive: true });
  mkdirSync(out);
  kernel = Buffer.alloc(3 * MiB + 123);
  for (let i = 0; i + 4 <= kernel.length; i += 4) kernel.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
  writeFileSync(join(root, 'rocky9', 'vmlinuz'), kernel);
  sparseMarkedFile(join(root, 'disk-1g.img'), GiB);
  sparseMarkedFile(join(root, 'medium.img'), 64 * MiB, 64 * 1024);
  bigSha = await sha256File(join(root, 'disk-1g.img'));
  srv = await startFileServer({ assetRoot: root });
}, 120_000);

afterAll(async () => {
  await srv?.close();
  tmp?.remove();
});

async function curl(args: string[]): Promise<string> {
  requireTool('curl');
  const r = await run('curl', ['-sS', '--max-time', '60', ...args]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

describe('curl', () => {
  it('single range', async () => {
    const headers = await curl(['-r', '1000-1999', '-D', '-', '-o', join(out, 'single'), `${srv.url}/assets/rocky9/vmlinuz`]);
    expect(headers).toMatch(/^HTTP\/1\.1 206 /);
    expect(headers).toContain(`Content-Range: bytes 1000-1999/${kernel.length}`);
    expect(readFileSync(join(out, 'single'))).toEqual(kernel.subarray(1000, 2000));
  });

  it('suffix range', async () => {
    await curl(['-r', '-777', '-o', join(out, 'suffix'), `${srv.url}/assets/rocky9/vmlinuz`]);
    expect(readFileSync(join(out, 'suffix'))).toEqual(kernel.subarray(kernel.length - 777));
  });

  it('several ranges: multipart/byteranges that parse back to the right bytes', async () => {
    const headers = await curl(['-r', '0-99,2000000-2000099,-50', '-D', join(out, 'multi.h'), '-o', join(out, 'multi'), `${srv.url}/assets/rocky9/vmlinuz`]);
    void headers;
    const h = readFileSync(join(out, 'multi.h'), 'latin1');
    const type = /content-type: (.*)\r\n/i.exec(h)![1]!;
    const parts = multipartParts(readFileSync(join(out, 'multi')), type);
    expect(parts.map((p) => p.data)).toEqual([kernel.subarray(0, 100), kernel.subarray(2000000, 2000100), kernel.subarray(kernel.length - 50)]);
  });

  it('a whole download, then a conditional one that is 304', async () => {
    const h1 = await curl(['-D', '-', '-o', join(out, 'whole'), `${srv.url}/assets/rocky9/vmlinuz`]);
    expectSameBytes(readFileSync(join(out, 'whole')), kernel);
    const etag = /ETag: (.*)\r\n/i.exec(h1)![1]!;
    const h2 = await curl(['-D', '-', '-o', '/dev/null', '-H', `If-None-Match: ${etag}`, `${srv.url}/assets/rocky9/vmlinuz`]);
    expect(h2).toMatch(/^HTTP\/1\.1 304 /);
    // curl's own If-Modified-Since from the file's time (-z).
    const h3 = await curl(['-D', '-', '-o', '/dev/null', '-z', 'Sun, 06 Nov 2095 08:49:37 GMT', `${srv.url}/assets/rocky9/vmlinuz`]);
    expect(h3).toMatch(/^HTTP\/1\.1 304 /);
  });

  it('resumes a download that was cut off (curl -C -), and aria2c resumes one too', async () => {
    requireTool('curl');
    const url = `${srv.url}/assets/medium.img`;
    const src = join(root, 'medium.img');
    const CUT = 3 * MiB;
    for (const [round, resumer] of (['curl', 'aria2c'] as const).entries()) {
      const partial = join(out, `partial-${resumer}`);
      // A real interruption: curl is killed mid-transfer, and what it had
      // delivered up to 3 MiB is what was "saved". (A whole number of MiB,
      // so aria2c, which resumes at a piece boundary, starts at the same byte.)
      const child = spawn('curl', ['-sS', '--limit-rate', '20M', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      const file = createWriteStream(partial);
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.stdout!.on('data', (d: Buffer) => {
          if (got >= CUT) return;
          const take = d.subarray(0, CUT - got);
          file.write(take);
          got += take.length;
          if (got >= CUT) {
            child.stdout!.pause();
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.on('exit', () => resolve());
      });
      await new Promise<void>((r) => file.end(() => r()));
      expect(got).toBe(CUT);
      expect(statSync(partial).size).toBe(CUT);
      // The server saw the cut, freed the file, and said so.
      const cut = await srv.events.next((e) => e.request === '/assets/medium.img' && e.detail.aborted === true, round);
      expect(cut.detail.bytes).toBeLessThan(64 * MiB);

      if (resumer === 'curl') {
        await curl(['-C', '-', '-o', partial, url]);
      } else {
        requireTool('aria2c');
        const r = await run('aria2c', ['-c', '-x', '1', '--console-log-level=warn', '--summary-interval=0', '--file-allocation=none', '--allow-overwrite=false', '-d', out, '-o', `partial-${resumer}`, url]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
      }
      expect(await sha256File(partial)).toBe(await sha256File(src));
      // The resumed request asked for the rest only.
      const resumed = await srv.events.next((e) => e.request === '/assets/medium.img' && String(e.detail.range).startsWith(`bytes=${CUT}-`), round);
      expect(resumed.status).toBe(206);
      expect(resumed.detail.bytes).toBe(64 * MiB - CUT);
    }
  }, 60_000);
});

describe('aria2c', () => {
  it('downloads 1 GiB over 8 parallel connections (-x 8 -s 8); sha256 matches', async () => {
    requireTool('aria2c');
    const before = srv.events.events.length;
    const r = await run('aria2c', [
      '-x', '8', '-s', '8', '-k', '1M',
      '--min-split-size=1M',
      '--file-allocation=none',
      '--allow-overwrite=true',
      '--auto-file-renaming=false',
      '--console-log-level=warn',
      '--summary-interval=0',
      '-d', out,
      '-o', 'disk-1g.img',
      `${srv.url}/assets/disk-1g.img`,
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(statSync(join(out, 'disk-1g.img')).size).toBe(GiB);
    expect(await sha256File(join(out, 'disk-1g.img'))).toBe(bigSha);
    // It really was parallel ranges: several ranged requests, every byte sent once or more.
    const mine = srv.events.events.slice(before).filter((e) => e.request === '/assets/disk-1g.img');
    const ranged = mine.filter((e) => e.status === 206);
    expect(ranged.length).toBeGreaterThanOrEqual(7);
    expect(mine.reduce((n, e) => n + Number(e.detail.bytes), 0)).toBeGreaterThanOrEqual(GiB);
  }, 180_000);
});

describe('iPXE-style requests', () => {
  it('HEAD for the size, 512-byte block reads and a whole file, all on one kept-alive connection', async () => {
    const c = new RawConnection(srv.port);
    const req = (method: string, path: string, extra = '') =>
      `${method} ${path} HTTP/1.1\r\nConnection: keep-alive\r\nHost: 127.0.0.1:${srv.port}\r\nUser-Agent: iPXE/1.21.1+ (g4bd064de)\r\n${extra}\r\n`;
    try {
      // sanboot over HTTP: capacity from Content-Length of a HEAD.
      c.send(req('HEAD', '/assets/disk-1g.img'));
      const head = await c.response(true);
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(GiB));
      expect(head.headers['accept-ranges']).toBe('bytes');
      expect(head.headers['connection']).not.toBe('close');
      // Block reads: 512-byte aligned ranges, some across the 4 GiB-safe math and at the end.
      for (const lba of [0, 1, 2048, 2097151]) {
        const start = lba * 512;
        c.send(req('GET', '/assets/disk-1g.img', `Range: bytes=${start}-${start + 511}\r\n`));
        const blk = await c.response();
        expect(blk.status).toBe(206);
        expect(blk.headers['content-range']).toBe(`bytes ${start}-${start + 511}/${GiB}`);
        expect(blk.body).toEqual(await fileBytes(join(root, 'disk-1g.img'), start, start + 511));
      }
      const mark = await (async () => {
        c.send(req('GET', '/assets/disk-1g.img', `Range: bytes=${512 * MiB}-${512 * MiB + 31}\r\n`));
        return (await c.response()).body;
      })();
      expect(mark).toEqual(markerAt(512 * MiB));
      // Then the kernel, as "kernel http://…/vmlinuz" fetches it: no Range.
      c.send(req('GET', '/assets/rocky9/vmlinuz'));
      const k = await c.response();
      expect(k.status).toBe(200);
      expectSameBytes(k.body, kernel);
      // A missing initrd answers 404 and the connection stays usable.
      c.send(req('GET', '/assets/rocky9/initrd.img'));
      expect((await c.response()).status).toBe(404);
      c.send(req('GET', '/assets/rocky9/vmlinuz', 'Range: bytes=0-3\r\n'));
      expect((await c.response()).body).toEqual(kernel.subarray(0, 4));
    } finally {
      c.close();
    }
    const ipxe = await srv.events.count((e) => e.detail.ua === 'iPXE/1.21.1+ (g4bd064de)', 9);
    expect(ipxe.map((e) => e.status).sort()).toEqual([200, 200, 206, 206, 206, 206, 206, 206, 404]);
  });
});

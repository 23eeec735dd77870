import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoexecScript, checkName, createLoaderFiles, type OpenResult } from '../../src/tftp/files.js';
import type { Mode } from '../../src/tftp/packet.js';
import { bytes, makeRoot, removeDir } from './helpers.js';

let root: string;
let outside: string;

beforeAll(() => {
  root = makeRoot({
    'undionly.kpxe': bytes(70_000, 1),
    'boot/x86/wdsnbp.com': bytes(3000, 2),
    'pxelinux.cfg/default': 'DEFAULT local\n',
    '.hidden': 'secret',
    'Mixed/Case.EFI': 'mixed',
  });
  outside = makeRoot({ 'secret.txt': 'outside the root' });
  symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
  symlinkSync(outside, join(root, 'escape-dir'));
  symlinkSync(join(root, 'undionly.kpxe'), join(root, 'alias.kpxe'));
});

afterAll(() => {
  removeDir(root);
  removeDir(outside);
});

/** Buffer.equals: vitest's deep equality walks big buffers byte by byte, slowly. */
function expectBytes(got: Buffer | OpenResult, want: Buffer): void {
  if (!Buffer.isBuffer(got)) throw new Error(`expected ${want.length} bytes, got ${JSON.stringify(got)}`);
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

async function read(files: ReturnType<typeof createLoaderFiles>, name: string, mode: Mode = 'octet'): Promise<Buffer | OpenResult> {
  const r = await files.open(name, mode);
  if (!r.ok) return r;
  const b = r.source.read(0, r.source.size);
  r.close();
  return b;
}

describe('checkName', () => {
  it('takes firmware spellings', () => {
    expect(checkName('/pxelinux.0')).toEqual({ ok: true, segments: ['pxelinux.0'] });
    expect(checkName('boot\\x86\\wdsnbp.com')).toEqual({ ok: true, segments: ['boot', 'x86', 'wdsnbp.com'] });
    expect(checkName('//a/./b')).toEqual({ ok: true, segments: ['a', 'b'] });
  });
  it('refuses ways out and odd names', () => {
    for (const bad of ['../etc/passwd', 'a/../../b', '..\\..\\windows', 'C:\\boot\\x', 'c:/x', '.hidden', 'a/.ssh/id', 'a\nb', '/', '']) {
      expect(checkName(bad).ok, bad).toBe(false);
    }
  });
});

describe('createLoaderFiles', () => {
  const files = () => createLoaderFiles({ root, baseUrl: 'http://10.0.0.5:8080' });

  it('serves files with a leading slash and Windows backslashes', async () => {
    const f = files();
    expectBytes(await read(f, '/undionly.kpxe'), bytes(70_000, 1));
    expectBytes(await read(f, 'boot\\x86\\wdsnbp.com'), bytes(3000, 2));
    expectBytes(await read(f, '\\boot\\x86\\wdsnbp.com'), bytes(3000, 2));
  });

  it('not found is error 1; traversal, hidden files and symlinks out of the root are error 2', async () => {
    const f = files();
    expect(await read(f, 'nope')).toMatchObject({ ok: false, code: 1 });
    // An absolute path names a file under the root, never the real /etc/passwd.
    expect(await read(f, '/etc/passwd')).toMatchObject({ ok: false, code: 1 });
    expect(await read(f, '../etc/passwd')).toMatchObject({ ok: false, code: 2 });
    expect(await read(f, 'boot/../../x')).toMatchObject({ ok: false, code: 2 });
    expect(await read(f, 'C:\\Windows\\win.ini')).toMatchObject({ ok: false, code: 2 });
    expect(await read(f, '.hidden')).toMatchObject({ ok: false, code: 2 });
    expect(await read(f, 'escape.txt')).toMatchObject({ ok: false, code: 2, reason: 'resolves outside the TFTP root' });
    expect(await read(f, 'escape-dir/secret.txt')).toMatchObject({ ok: false, code: 2 });
    expect(await read(f, 'boot/x86')).toMatchObject({ ok: false, code: 1, reason: 'not a regular file' });
  });

  it('a packaged loader missing from the root comes from where Debian installs it; nothing else does', async () => {
    const system = '/usr/lib/ipxe/snponly.efi';
    if (!existsSync(system)) throw new Error(`${system} is missing: install Debian's ipxe package (scripts/install-e2e-test-deps.sh)`);
    const f = files();
    expectBytes(await read(f, '/snponly.efi'), readFileSync(system));
    // ipxe.efi is a link to /boot/ipxe.efi in Debian's package: followed, since name and folder are fixed.
    expectBytes(await read(f, 'ipxe.efi'), readFileSync(realpathSync('/usr/lib/ipxe/ipxe.efi')));
    expectBytes(await read(f, 'ldlinux.c32'), readFileSync('/usr/lib/syslinux/modules/bios/ldlinux.c32'));
    // Only bare known names: no folders, no other files of those folders.
    expect(await read(f, 'x/snponly.efi')).toMatchObject({ ok: false, code: 1 });
    expect(await read(f, 'ipxe.iso')).toMatchObject({ ok: false, code: 1 });
    // The root still wins, and the fallback can be turned off.
    expectBytes(await read(f, 'undionly.kpxe'), bytes(70_000, 1));
    expect(await read(createLoaderFiles({ root, systemLoaders: false }), 'snponly.efi')).toMatchObject({ ok: false, code: 1 });
  });

  it('a symlink inside the root is followed', async () => {
    expectBytes(await read(files(), 'alias.kpxe'), bytes(70_000, 1));
  });

  it('case-insensitive fallback only when enabled, exact name preferred', async () => {
    expect(await read(files(), 'BOOT\\X86\\WDSNBP.COM')).toMatchObject({ ok: false, code: 1 });
    const ci = createLoaderFiles({ root, caseInsensitive: true });
    expectBytes(await read(ci, 'BOOT\\X86\\WDSNBP.COM'), bytes(3000, 2));
    expect(await read(ci, 'mixed/case.efi')).toEqual(Buffer.from('mixed'));
    expect(await read(ci, 'MIXED/nothing')).toMatchObject({ ok: false, code: 1 });
    expect(await read(ci, 'ESCAPE.TXT')).toMatchObject({ ok: false, code: 2 });
  });

  it('generates autoexec.ipxe (any case) chaining to the HTTP entry script', async () => {
    expect(autoexecScript('http://10.0.0.5:8080/')).toBe('#!ipxe\nchain http://10.0.0.5:8080/boot.ipxe\n');
    const f = files();
    const r = await f.open('/AutoExec.iPXE', 'octet');
    expect(r).toMatchObject({ ok: true, path: '(generated)' });
    expect(await read(f, 'autoexec.ipxe')).toEqual(Buffer.from('#!ipxe\nchain http://10.0.0.5:8080/boot.ipxe\n'));
    expect(await read(f, 'autoexec.ipxe', 'netascii')).toEqual(Buffer.from('#!ipxe\r\nchain http://10.0.0.5:8080/boot.ipxe\r\n'));
    // Without a base URL there is nothing to generate.
    expect(await read(createLoaderFiles({ root }), 'autoexec.ipxe')).toMatchObject({ ok: false, code: 1 });
  });

  it('a real autoexec.ipxe in the root wins over the generated one', async () => {
    const r2 = makeRoot({ 'autoexec.ipxe': '#!ipxe\necho mine\n' });
    try {
      expect(await read(createLoaderFiles({ root: r2, baseUrl: 'http://x' }), 'autoexec.ipxe')).toEqual(Buffer.from('#!ipxe\necho mine\n'));
    } finally {
      removeDir(r2);
    }
  });

  it('netascii converts line ends', async () => {
    expect(await read(files(), 'pxelinux.cfg/default', 'netascii')).toEqual(Buffer.from('DEFAULT local\r\n'));
  });

  it('caches in memory and reloads when the file changes on disk', async () => {
    const r2 = makeRoot({ 'ipxe.efi': 'version one' });
    try {
      const f = createLoaderFiles({ root: r2 });
      expect(await read(f, 'ipxe.efi')).toEqual(Buffer.from('version one'));
      expect(await read(f, 'ipxe.efi')).toEqual(Buffer.from('version one'));
      expect(f.stats).toMatchObject({ loads: 1, hits: 1, reloads: 0, cachedFiles: 1 });
      // New content, new size.
      writeFileSync(join(r2, 'ipxe.efi'), 'version two!');
      expect(await read(f, 'ipxe.efi')).toEqual(Buffer.from('version two!'));
      expect(f.stats).toMatchObject({ reloads: 1 });
      // Same size, different bytes, different mtime.
      writeFileSync(join(r2, 'ipxe.efi'), 'version 3ee!');
      utimesSync(join(r2, 'ipxe.efi'), new Date(2001, 1, 1), new Date(2001, 1, 1));
      expect(await read(f, 'ipxe.efi')).toEqual(Buffer.from('version 3ee!'));
      expect(f.stats).toMatchObject({ reloads: 2 });
    } finally {
      removeDir(r2);
    }
  });

  it('one read for many concurrent requests of the same file', async () => {
    const r2 = makeRoot({ 'snponly.efi': bytes(200_000, 9) });
    try {
      const f = createLoaderFiles({ root: r2 });
      const all = await Promise.all(Array.from({ length: 20 }, () => read(f, 'snponly.efi')));
      const want = bytes(200_000, 9);
      for (const b of all) expectBytes(b, want);
      expect(f.stats.hits).toBe(19);
      expect(f.stats.loads).toBe(1);
    } finally {
      removeDir(r2);
    }
  });

  it('evicts least recently used files past the memory limit', async () => {
    const r2 = makeRoot({ a: bytes(600, 1), b: bytes(600, 2), c: bytes(600, 3) });
    try {
      const f = createLoaderFiles({ root: r2, cacheMaxBytes: 1300 });
      await read(f, 'a');
      await read(f, 'b');
      await read(f, 'c');
      expect(f.stats.cachedFiles).toBe(2);
      expect(f.stats.cachedBytes).toBeLessThanOrEqual(1300);
      expectBytes(await read(f, 'a'), bytes(600, 1));
    } finally {
      removeDir(r2);
    }
  });

  it('files over the cache limit are read from disk', async () => {
    const r2 = makeRoot({ big: bytes(5000, 4) });
    try {
      const f = createLoaderFiles({ root: r2, cacheMaxFileBytes: 1000 });
      const r = await f.open('big', 'octet');
      expect(r).toMatchObject({ ok: true, cached: false });
      if (r.ok) {
        expect(Buffer.concat([r.source.read(0, 4000), r.source.read(4000, 1000)])).toEqual(bytes(5000, 4));
        r.close();
      }
      expect(await f.open('big', 'netascii')).toMatchObject({ ok: false, code: 0 });
    } finally {
      removeDir(r2);
    }
  });

  it('a missing root is "not found", and found once it exists', async () => {
    const r2 = join(makeRoot({}), 'later');
    const f = createLoaderFiles({ root: r2 });
    expect(await read(f, 'x')).toMatchObject({ ok: false, code: 1 });
    mkdirSync(r2);
    writeFileSync(join(r2, 'x'), 'now');
    expect(await read(f, 'x')).toEqual(Buffer.from('now'));
    removeDir(join(r2, '..'));
  });
});

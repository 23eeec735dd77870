/**
 * Interoperability with real TFTP client programs over loopback, compared
 * byte for byte: tftp-hpa's tftp (RFC 1350, no options), atftp (blksize,
 * windowsize, tsize), curl (tsize, blksize, timeout). A missing program fails
 * the test with the package to install — these tests are the proof, so they
 * never skip.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, makeRoot, removeDir, requireTool, run, startServer } from './helpers.js';

const TFTP = '/usr/bin/tftp';
const ATFTP = '/usr/bin/atftp';
const CURL = '/usr/bin/curl';

const LOADER = bytes(73_000, 11); // undionly.kpxe-sized
const EFI = bytes(1_000_000, 12); // ipxe.efi-sized
const EXACT = bytes(1468 * 8 * 3, 13); // ends on a window boundary: the last block is empty
const CFG = 'DEFAULT menu\r\nLABEL local\n  LOCALBOOT 0\n\rodd CR\n';

let root: string;
let out: string;

beforeAll(() => {
  root = makeRoot({
    'undionly.kpxe': LOADER,
    'ipxe.efi': EFI,
    'exact.bin': EXACT,
    'pxelinux.cfg/default': CFG,
    'Boot/x86/wdsnbp.com': bytes(25_000, 14),
    'wrap.bin': bytes(8 * 65_536 + 100, 15),
  });
  out = mkdtempSync(join(tmpdir(), 'chainboot-tftp-out-'));
});
afterAll(() => {
  removeDir(root);
  removeDir(out);
});

let n = 0;
const local = () => join(out, `f${++n}`);

function expectSame(path: string, want: Buffer): void {
  const got = readFileSync(path);
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

async function hpaGet(port: number, remote: string, mode: 'binary' | 'netascii' = 'binary') {
  const tftp = requireTool(TFTP, 'tftp-hpa');
  const file = local();
  const r = await run(tftp, ['-m', mode, '127.0.0.1', String(port), '-c', 'get', remote, file]);
  return { ...r, file };
}

async function atftpGet(port: number, remote: string, opts: string[]) {
  const atftp = requireTool(ATFTP, 'atftp');
  const file = local();
  const args = opts.flatMap((o) => ['--option', o]);
  const r = await run(atftp, [...args, '-g', '-r', remote, '-l', file, '127.0.0.1', String(port)]);
  return { ...r, file };
}

async function curlGet(port: number, remote: string, blksize: number) {
  const curl = requireTool(CURL, 'curl');
  const file = local();
  const r = await run(curl, ['-sS', '--tftp-blksize', String(blksize), '-o', file, `tftp://127.0.0.1:${port}/${remote}`]);
  return { ...r, file };
}

describe('tftp-hpa client', () => {
  it('octet: the loader and a 1 MB file, byte for byte', async () => {
    const { server, port, sink } = await startServer({ root });
    try {
      const a = await hpaGet(port, 'undionly.kpxe');
      expect(a.code, a.stderr).toBe(0);
      expectSame(a.file, LOADER);
      const b = await hpaGet(port, 'ipxe.efi');
      expect(b.code, b.stderr).toBe(0);
      expectSame(b.file, EFI);
      const ev = await sink.waitFor((e) => e.request === 'ipxe.efi');
      expect(ev).toMatchObject({ kind: 'tftp', status: 200, clientIp: '127.0.0.1' });
      expect(ev.detail).toMatchObject({ options: {}, blksize: 512, bytes: EFI.length, outcome: 'complete' });
    } finally {
      await server.close();
    }
  });

  it('netascii: line ends converted on the wire and back by the client', async () => {
    const { server, port } = await startServer({ root });
    try {
      const r = await hpaGet(port, 'pxelinux.cfg/default', 'netascii');
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, Buffer.from(CFG, 'latin1'));
    } finally {
      await server.close();
    }
  });

  it('names as firmware sends them: leading slash, backslashes, other case', async () => {
    const { server, port } = await startServer({ root, caseInsensitive: true });
    try {
      const a = await hpaGet(port, '/undionly.kpxe');
      expect(a.code, a.stderr).toBe(0);
      expectSame(a.file, LOADER);
      const b = await hpaGet(port, 'Boot\\x86\\wdsnbp.com');
      expect(b.code, b.stderr).toBe(0);
      expectSame(b.file, bytes(25_000, 14));
      const c = await hpaGet(port, '\\BOOT\\X86\\WDSNBP.COM');
      expect(c.code, c.stderr).toBe(0);
      expectSame(c.file, bytes(25_000, 14));
    } finally {
      await server.close();
    }
  });

  it('not found and traversal: the client reports the server error', async () => {
    const { server, port } = await startServer({ root });
    try {
      const a = await hpaGet(port, 'nothing.efi');
      expect(a.stdout + a.stderr).toMatch(/Error code 1: File not found/);
      const b = await hpaGet(port, '../../../etc/passwd');
      expect(b.stdout + b.stderr).toMatch(/Error code 2: Access violation/);
    } finally {
      await server.close();
    }
  });

  it('single-port mode', async () => {
    const { server, port } = await startServer({ root, singlePort: true });
    try {
      const r = await hpaGet(port, 'ipxe.efi');
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, EFI);
    } finally {
      await server.close();
    }
  });

  it('24 clients at once', async () => {
    const { server, port, sink } = await startServer({ root });
    try {
      const all = await Promise.all(Array.from({ length: 24 }, () => hpaGet(port, 'undionly.kpxe')));
      for (const r of all) {
        expect(r.code, r.stderr).toBe(0);
        expectSame(r.file, LOADER);
      }
      expect(sink.events.filter((e) => e.detail.outcome === 'complete')).toHaveLength(24);
    } finally {
      await server.close();
    }
  });
});

describe('atftp client', () => {
  it('blksize 1468, windowsize 8, tsize: 1 MB byte for byte, options granted in the OACK', async () => {
    const { server, port, sink } = await startServer({ root });
    try {
      const r = await atftpGet(port, 'ipxe.efi', ['blksize 1468', 'windowsize 8', 'tsize enable']);
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, EFI);
      const ev = await sink.waitFor((e) => e.request === 'ipxe.efi');
      expect(ev.detail).toMatchObject({
        accepted: { blksize: '1468', windowsize: '8', tsize: String(EFI.length) },
        blksize: 1468,
        windowsize: 8,
        outcome: 'complete',
        bytes: EFI.length,
      });
    } finally {
      await server.close();
    }
  });

  it('a file ending exactly on a window boundary, and the loader', async () => {
    const { server, port } = await startServer({ root });
    try {
      const a = await atftpGet(port, 'exact.bin', ['blksize 1468', 'windowsize 8', 'tsize enable']);
      expect(a.code, a.stderr).toBe(0);
      expectSame(a.file, EXACT);
      const b = await atftpGet(port, 'undionly.kpxe', ['blksize 1468', 'windowsize 8', 'tsize enable']);
      expect(b.code, b.stderr).toBe(0);
      expectSame(b.file, LOADER);
    } finally {
      await server.close();
    }
  });

  it('windowsize above the server maximum is lowered in the OACK, and atftp follows', async () => {
    const { server, port, sink } = await startServer({ root, windowsizeMax: 4 });
    try {
      const r = await atftpGet(port, 'ipxe.efi', ['blksize 1024', 'windowsize 16']);
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, EFI);
      expect((await sink.waitFor((e) => e.request === 'ipxe.efi')).detail).toMatchObject({ windowsize: 4, blksize: 1024 });
    } finally {
      await server.close();
    }
  });

  it('single-port mode with windowsize', async () => {
    const { server, port } = await startServer({ root, singlePort: true });
    try {
      const r = await atftpGet(port, 'ipxe.efi', ['blksize 1468', 'windowsize 8', 'tsize enable']);
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, EFI);
    } finally {
      await server.close();
    }
  });
});

describe('curl tftp://', () => {
  it('--tftp-blksize 1468 and 512: 1 MB byte for byte', async () => {
    const { server, port, sink } = await startServer({ root });
    try {
      const a = await curlGet(port, 'ipxe.efi', 1468);
      expect(a.code, a.stderr).toBe(0);
      expectSame(a.file, EFI);
      const ev = await sink.waitFor((e) => e.request === 'ipxe.efi');
      expect(ev.detail).toMatchObject({ blksize: 1468, outcome: 'complete' });
      expect(ev.detail.accepted).toMatchObject({ blksize: '1468', tsize: String(EFI.length) });
      const b = await curlGet(port, 'undionly.kpxe', 512);
      expect(b.code, b.stderr).toBe(0);
      expectSame(b.file, LOADER);
    } finally {
      await server.close();
    }
  });

  it('block numbers wrap past 65535 (blksize 8, 65,549 blocks)', async () => {
    const { server, port, sink } = await startServer({ root });
    try {
      const r = await curlGet(port, 'wrap.bin', 8);
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, bytes(8 * 65_536 + 100, 15));
      expect((await sink.waitFor((e) => e.request === 'wrap.bin')).detail).toMatchObject({ blksize: 8, outcome: 'complete' });
    } finally {
      await server.close();
    }
  });

  it('autoexec.ipxe is generated: two lines chaining to the HTTP entry script', async () => {
    const { server, port, sink } = await startServer({ root, baseUrl: 'http://10.20.30.40:8080' });
    try {
      const r = await curlGet(port, 'autoexec.ipxe', 1468);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(r.file, 'latin1')).toBe('#!ipxe\nchain http://10.20.30.40:8080/boot.ipxe\n');
      expect((await sink.waitFor((e) => e.request === 'autoexec.ipxe')).detail).toMatchObject({ file: '(generated)' });
    } finally {
      await server.close();
    }
  });

  it('noOptions: curl falls back to 512-byte blocks and still gets the file', async () => {
    const { server, port, sink } = await startServer({ root, noOptions: true });
    try {
      const r = await curlGet(port, 'ipxe.efi', 1468);
      expect(r.code, r.stderr).toBe(0);
      expectSame(r.file, EFI);
      expect((await sink.waitFor((e) => e.request === 'ipxe.efi')).detail).toMatchObject({ blksize: 512, accepted: {} });
    } finally {
      await server.close();
    }
  });
});

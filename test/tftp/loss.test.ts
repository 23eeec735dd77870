/**
 * Loss and duplication between real clients and the server: a UDP proxy in
 * the test drops and duplicates datagrams in both directions by a fixed
 * plan, and every transfer must still end with the exact bytes.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, makeRoot, removeDir, requireTool, run, startServer } from './helpers.js';
import { createLossyProxy, type Plan } from './lossy-proxy.js';

const LOADER = bytes(73_000, 21);
const EFI = bytes(400_000, 22);

// The first datagram each way (the request, the first reply) passes; after that
// about one in six is lost and one in seven doubled, in both directions.
const plan: Plan = (dir, n) => {
  if (n === 0) return 'pass';
  if (dir === 'up') return n % 5 === 2 ? 'drop' : n % 7 === 3 ? 'dup' : 'pass';
  return n % 6 === 4 ? 'drop' : n % 4 === 1 ? 'dup' : 'pass';
};

let root: string;
let out: string;
beforeAll(() => {
  root = makeRoot({ 'undionly.kpxe': LOADER, 'ipxe.efi': EFI });
  out = mkdtempSync(join(tmpdir(), 'chainboot-tftp-loss-'));
});
afterAll(() => {
  removeDir(root);
  removeDir(out);
});

function expectSame(path: string, want: Buffer): void {
  const got = readFileSync(path);
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

async function lossy(run: (proxyPort: number) => Promise<void>, file: string, how: Plan = plan) {
  const { server, port, sink } = await startServer({ root, timeoutMs: 50, retries: 20 });
  const proxy = await createLossyProxy(port, how);
  try {
    await run(proxy.port);
    const ev = await sink.waitFor((e) => e.request === file);
    // A lost final ACK may leave the server unsure; the bytes are what count.
    expect(['complete', 'unconfirmed']).toContain(ev.detail.outcome);
    expect(proxy.stats.up.drop + proxy.stats.down.drop).toBeGreaterThan(0);
    expect(proxy.stats.up.dup + proxy.stats.down.dup).toBeGreaterThan(0);
    expect(server.counters.retransmits).toBeGreaterThan(0);
    return { ev, server, proxy };
  } finally {
    await proxy.close();
    await server.close({ deadlineMs: 0 });
  }
}

describe('through a lossy, duplicating proxy', () => {
  it('tftp-hpa: the loader arrives intact', async () => {
    const tftp = requireTool('/usr/bin/tftp', 'tftp-hpa');
    const file = join(out, 'hpa');
    await lossy(async (p) => {
      const r = await run(tftp, ['127.0.0.1', String(p)], { input: `rexmt 1\nbinary\nget undionly.kpxe ${file}\nquit\n` });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expectSame(file, LOADER);
    }, 'undionly.kpxe');
  });

  it('atftp with blksize 1468, windowsize 8: 400 KB intact', async () => {
    const atftp = requireTool('/usr/bin/atftp', 'atftp');
    const file = join(out, 'atftp');
    const { ev } = await lossy(async (p) => {
      const r = await run(atftp, ['--tftp-timeout', '1', '--option', 'blksize 1468', '--option', 'windowsize 8', '--option', 'tsize enable', '-g', '-r', 'ipxe.efi', '-l', file, '127.0.0.1', String(p)]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expectSame(file, EFI);
    }, 'ipxe.efi');
    expect(ev.detail).toMatchObject({ windowsize: 8, blksize: 1468 });
  });

  it('curl --tftp-blksize 1468: intact, at the retransmission timeout curl asks for', async () => {
    const curl = requireTool('/usr/bin/curl', 'curl');
    const file = join(out, 'curl');
    // curl sends a "timeout" option (3 s with --max-time 10) and the server honours it
    // (RFC 2349), so each loss costs 3 s here: two losses, many duplicates.
    const sparse: Plan = (dir, n) => (dir === 'down' && n === 5) || (dir === 'up' && n === 9) ? 'drop' : n > 0 && n % 3 === 1 ? 'dup' : 'pass';
    const { ev } = await lossy(
      async (p) => {
        const r = await run(curl, ['-sS', '--max-time', '10', '--tftp-blksize', '1468', '-o', file, `tftp://127.0.0.1:${p}/undionly.kpxe`]);
        expect(r.code, r.stderr).toBe(0);
        expectSame(file, LOADER);
      },
      'undionly.kpxe',
      sparse,
    );
    expect(ev.detail).toMatchObject({ blksize: 1468, timeoutMs: 3000 });
  });
});

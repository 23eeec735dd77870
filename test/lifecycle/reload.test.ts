/**
 * SIGHUP on the real built `chainboot serve`: the config file is read again
 * and applied live (log level, TFTP limits), the loader root is looked at
 * afresh (a new loader is served), settings that need a restart are reported
 * and not applied, a bad file is refused with the old config kept, and
 * transfers in flight finish with the file they started with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuilt, run } from '../helpers/process.js';
import { curl, heldTftpRead, pattern, signal, startServer, type LogLine, type Server } from './helpers.js';

let dir: string;
const v1Loader = pattern(200_000, 21);
const v2Loader = pattern(200_001, 22);
const newLoader = pattern(150_000, 23);
const big = pattern(64 * 1024 * 1024, 24);

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'chainboot-reload-'));
  mkdirSync(join(dir, 'v1'));
  mkdirSync(join(dir, 'v2'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'v1', 'undionly.kpxe'), v1Loader);
  writeFileSync(join(dir, 'v2', 'undionly.kpxe'), v2Loader);
  writeFileSync(join(dir, 'v2', 'rpi5-ipxe.efi'), newLoader);
  writeFileSync(join(dir, 'assets', 'big.img'), big);
  symlinkSync('v1', join(dir, 'loaders'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Points the loader root at another tree in one step, as a deployment would. */
function switchLoaders(to: string): void {
  const tmp = join(dir, 'loaders.new');
  rmSync(tmp, { force: true });
  symlinkSync(to, tmp);
  renameSync(tmp, join(dir, 'loaders'));
}

const tftpGet = (s: Server, name: string, out: string, extra: string[] = []) => run('curl', ['-sS', '-o', out, ...extra, `tftp://127.0.0.1:${s.tftpPort}/${name}`]);

describe('SIGHUP', () => {
  it('applies the new config and loader tree while a TFTP transfer and an HTTP download run on', async () => {
    const cfgFile = join(dir, 'chainboot.json');
    writeFileSync(cfgFile, JSON.stringify({ logLevel: 'info', eventRetentionDays: 90 }));
    const s = await startServer(['--config', cfgFile, '--loader-root', join(dir, 'loaders'), '--asset-root', join(dir, 'assets'), '--shutdown-deadline', '60', '--tftp-retries', '50']);
    try {
      let release: () => void = () => {};
      const held = await heldTftpRead(s.tftpPort, 'undionly.kpxe', 20, new Promise<void>((r) => (release = r)));
      const dl = curl(['--limit-rate', '16M', `${s.baseUrl}/assets/big.img`], join(dir, 'big.out'));
      await Promise.all([held.held, dl.received(1024 * 1024)]);

      // A new loader tree: not seen until the reload (the resolved root is cached).
      switchLoaders('v2');
      const before = await tftpGet(s, 'rpi5-ipxe.efi', join(dir, 'before.efi'));
      expect(before.code).not.toBe(0);

      writeFileSync(cfgFile, JSON.stringify({ logLevel: 'debug', tftpBlksizeMax: '1024', eventRetentionDays: 30, templateDir: '/elsewhere' }));
      const debugBefore = s.lines().filter((l) => l.level === 20).length;
      signal(s, 'SIGHUP');
      const reloaded = await s.waitLog((l) => l.msg.startsWith('reloaded the configuration'), 'reloaded the configuration');
      expect(reloaded.ok).toBe(true);
      expect(reloaded.applied).toEqual(expect.arrayContaining(['logLevel', 'tftpBlksizeMax', 'eventRetentionDays']));
      expect(reloaded.needsRestart).toEqual(['templateDir']);
      expect(reloaded.msg).toContain('templateDir changed but need(s) a restart');
      expect(debugBefore).toBe(0);

      // The new loader is served, under the new blksize ceiling, and logged at the new level.
      const got = await tftpGet(s, 'rpi5-ipxe.efi', join(dir, 'after.efi'), ['--tftp-blksize', '1400']);
      expect(got.code, got.stderr).toBe(0);
      expect(readFileSync(join(dir, 'after.efi')).equals(newLoader)).toBe(true);
      const line = await s.waitLog((l: LogLine) => l.level === 20 && l.msg.startsWith('TFTP rpi5-ipxe.efi '), 'debug line of the rpi5-ipxe.efi transfer');
      expect(line.accepted).toMatchObject({ blksize: '1024' });
      // The replaced undionly.kpxe is what a new request gets …
      const fresh = await tftpGet(s, 'undionly.kpxe', join(dir, 'fresh.kpxe'));
      expect(fresh.code).toBe(0);
      expect(readFileSync(join(dir, 'fresh.kpxe')).equals(v2Loader)).toBe(true);

      // … while the transfer that started before the reload finishes with the old one.
      release();
      const t = await held.result;
      expect(t.error).toBeUndefined();
      expect(t.data.equals(v1Loader)).toBe(true);
      const d = await dl.done;
      expect(d.code, d.stderr).toBe(0);
      expect(readFileSync(join(dir, 'big.out')).equals(big)).toBe(true);

      // A broken file is refused; the running config stays (still at debug, still serving).
      writeFileSync(cfgFile, '{"logLevel": "debug",');
      signal(s, 'SIGHUP');
      const refused = await s.waitLog((l) => l.msg.startsWith('reload: the new configuration is refused'), 'reload refused');
      expect(refused.level).toBe(50);
      expect(refused.msg).toContain('not valid JSON');
      writeFileSync(cfgFile, JSON.stringify({ logLevel: 'debug', tftpBlksizeMax: '99999' }));
      signal(s, 'SIGHUP');
      await s.waitLog((l) => l.msg.includes('tftpBlksizeMax "99999" must be a whole number'), 'bad blksize refused');
      const still = await tftpGet(s, 'rpi5-ipxe.efi', join(dir, 'still.efi'), ['--tftp-blksize', '1400']);
      expect(still.code).toBe(0);
      const lines = s.lines().filter((l) => l.level === 20 && l.msg.startsWith('TFTP rpi5-ipxe.efi '));
      expect(lines).toHaveLength(2);
      expect(lines[1]!.accepted).toMatchObject({ blksize: '1024' });

      signal(s, 'SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      if (s.proc.exitCode === null) {
        signal(s, 'SIGKILL');
        await s.exited;
      }
    }
  });
});

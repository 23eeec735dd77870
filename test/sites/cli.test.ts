/**
 * `chainboot sites …` and `preview --ip` through the built CLI.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireBuilt, run } from '../helpers/process.js';

function cli(dataDir: string, ...args: string[]) {
  return run(process.execPath, [CLI, ...args, '--data-dir', dataDir, '--base-url', 'http://10.0.0.5:8080', '--asset-root', '/nonexistent']);
}

describe('chainboot sites', () => {
  requireBuilt();

  it('adds, changes, matches and removes sites; preview --ip renders as the site sees it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-sites-cli-'));
    expect((await cli(dir, 'profiles', 'add', 'deb', '--kind', 'linux', '--kernel', 'deb/linux', '--initrd', 'deb/initrd.gz')).code).toBe(0);
    const add = await cli(dir, 'sites', 'add', 'branch', '--subnet', '10.20.0.0/16', '--relay', '10.20.0.1', '--asset-base-url', 'http://10.20.0.5:8081/assets', '--profile', 'deb');
    expect(add.stderr).toBe('');
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'branch', defaultProfile: 'deb', version: 1 });

    const set = await cli(dir, 'sites', 'set', 'branch', '--menu', 'onkey', '--loader', 'efi64=snponly.efi');
    expect(JSON.parse(set.stdout)).toMatchObject({ menuDisplay: 'onkey', loaders: { efi64: 'snponly.efi' }, subnets: ['10.20.0.0/16'], version: 2 });

    expect((await cli(dir, 'sites', 'list')).stdout).toMatch(/^branch\s+10\.20\.0\.0\/16\s+10\.20\.0\.1\s+http:\/\/10\.20\.0\.5:8081\/assets$/m);
    expect((await cli(dir, 'sites', 'match', '10.20.9.9')).stdout).toBe('branch (client in 10.20.0.0/16)\n');
    expect((await cli(dir, 'sites', 'match', '192.0.2.7', '--relay', '10.20.0.1')).stdout).toBe('branch (relay 10.20.0.1)\n');

    const remote = await cli(dir, 'preview', '52:54:00:00:00:09', '--ip', '10.20.3.3');
    expect(remote.code).toBe(0);
    expect(remote.stdout).toContain('kernel http://10.20.0.5:8081/assets/deb/linux');
    const home = await cli(dir, 'preview', '52:54:00:00:00:09', '--ip', '192.168.0.3');
    expect(home.stdout).toContain('exit');
    expect(home.stdout).not.toContain('kernel');

    const bad = await cli(dir, 'sites', 'add', 'other', '--subnet', '10.20.0.0/16');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('subnet 10.20.0.0/16 already belongs to site "branch"');

    const inUse = await cli(dir, 'profiles', 'rm', 'deb');
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toContain('default profile of site(s) branch');

    expect((await cli(dir, 'sites', 'rm', 'branch')).code).toBe(0);
    expect((await cli(dir, 'sites', 'list')).stdout).toBe('');
  });
});

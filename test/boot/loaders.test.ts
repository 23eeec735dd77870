import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLoader, LOADERS, loaderReport } from '../../src/boot/loaders.js';

describe('loaders', () => {
  it('prefers the loader root, and takes only plain file names', () => {
    const root = mkdtempSync(join(tmpdir(), 'chainboot-loaders-'));
    writeFileSync(join(root, 'undionly.kpxe'), 'x');
    mkdirSync(join(root, 'ipxe.efi'));
    expect(findLoader('undionly.kpxe', root)).toBe(join(root, 'undionly.kpxe'));
    // A directory of that name is not a loader; without system paths nothing is found.
    expect(findLoader('ipxe.efi', root, false)).toBeNull();
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/b', '.hidden', '']) expect(findLoader(bad, root)).toBeNull();
  });

  it('names how to get each missing loader', () => {
    const root = mkdtempSync(join(tmpdir(), 'chainboot-loaders-'));
    const report = loaderReport(root);
    expect(report.map((l) => l.name)).toEqual(['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'lpxelinux.0', 'memdisk', 'wimboot']);
    expect(LOADERS['undionly.kpxe']!.provider).toContain('"ipxe"');
    expect(LOADERS['lpxelinux.0']!.provider).toContain('"pxelinux"');
    expect(LOADERS.memdisk!.provider).toContain('"syslinux-common"');
    expect(LOADERS.wimboot!.provider).toContain('https://ipxe.org/wimboot');
  });
});

/**
 * /loaders/:name for a loader the loader root does not have: Debian's packaged
 * copy is served, following the package's own link (ipxe.efi → /boot/ipxe.efi)
 * as TFTP does; a link in the loader root that leads out of it still is not.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeStack } from '../helpers/services.js';

const PACKAGED = '/usr/lib/ipxe/ipxe.efi';

describe('/loaders/:name', () => {
  it('serves Debian’s ipxe.efi through its link into /boot when the loader root has none', async () => {
    if (!existsSync(PACKAGED)) throw new Error(`${PACKAGED} is missing: install Debian's ipxe package (scripts/install-e2e-test-deps.sh)`);
    const root = mkdtempSync(join(tmpdir(), 'cb-loaders-'));
    const { app } = await makeStack({ loaderRoot: root });
    const res = await app.request('/loaders/ipxe.efi');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(realpathSync(PACKAGED)))).toBe(true);
    const range = await app.request('/loaders/ipxe.efi', { headers: { range: 'bytes=0-1' } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).toString('latin1')).toBe('MZ');
  });

  it('still refuses a link in the loader root that leads out of it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-loaders-'));
    symlinkSync('/etc/passwd', join(root, 'evil.efi'));
    const { app } = await makeStack({ loaderRoot: root });
    expect((await app.request('/loaders/evil.efi')).status).toBe(404);
  });
});

/**
 * The Dockerfile cannot be built on the development machines (no Docker
 * engine), so what can be checked without one is checked here: every file it
 * copies from the build context exists, the runtime stage drops root, keeps a
 * health check, and copies the loaders from the loaders stage; the loader copy
 * script it runs works on this Debian.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../src/paths.js';

const text = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8');
const stages = text.split(/^FROM /m).slice(1);
const runtime = stages.at(-1)!;

describe('Dockerfile', () => {
  it('copies only files that exist in the build context', () => {
    const copies = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/).slice(0, -1)).flat();
    expect(copies.length).toBeGreaterThan(4);
    for (const src of copies) expect(existsSync(join(projectRoot, src)), `COPY source ${src}`).toBe(true);
  });

  it('runs as an unprivileged user with only NET_BIND_SERVICE, and checks its health', () => {
    expect(runtime).toMatch(/^USER chainboot$/m);
    expect(runtime).toMatch(/setcap cap_net_bind_service=\+ep/);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(runtime).toMatch(/^VOLUME \["\/app\/data"\]$/m);
    expect(runtime).toMatch(/^COPY --from=loaders \/loaders \.\/boot-assets\/loaders$/m);
    // No package manager left behind in the runtime image.
    expect(runtime).toMatch(/apt-get purge -y libcap2-bin/);
  });

  it('the loader copy script turns Debian\'s loaders (symlinks included) into plain files', () => {
    if (!existsSync('/usr/lib/ipxe/undionly.kpxe')) throw new Error('Debian\'s ipxe package is missing: run scripts/install-e2e-test-deps.sh (as root)');
    const dest = mkdtempSync(join(tmpdir(), 'chainboot-loaders-'));
    try {
      execFileSync('bash', [join(projectRoot, 'scripts', 'copy-debian-loaders.sh'), dest], { stdio: 'pipe' });
      const got = readdirSync(dest, { withFileTypes: true });
      for (const name of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'lpxelinux.0', 'ldlinux.c32', 'memdisk']) {
        const e = got.find((x) => x.name === name);
        expect(e?.isFile(), `${name} copied as a file`).toBe(true);
      }
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });
});

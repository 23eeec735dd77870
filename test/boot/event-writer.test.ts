/**
 * Boot events with a file database, as `serve` builds them. Run from the
 * TypeScript sources (as vitest and tsx do) the worker thread cannot load its
 * module, so events must be written in-thread rather than lost; the built
 * worker itself is exercised by the CLI tests (test/cli.test.ts,
 * test/http/curl-e2e.test.ts), which run dist/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildServices } from '../../src/main.js';
import { eventWorkerAvailable } from '../../src/boot/event-writer.js';
import { silentLogger } from '../../src/log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('event writer from TypeScript sources', () => {
  it('is known to be unavailable here, and events are stored in-thread instead', async () => {
    expect(eventWorkerAvailable).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-events-'));
    dirs.push(dir);
    const cfg = loadConfig({ argv: ['--admin-token', 'x'.repeat(20), '--data-dir', dir, '--dhcp', 'off', '--tftp', 'off'] });
    const s = buildServices(cfg, silentLogger, { eventWorker: true, baseUrl: 'http://10.0.0.5:8080' });
    s.events.record({ mac: '52:54:00:00:00:09', clientIp: '10.0.0.9', kind: 'http', request: 'GET /boot.ipxe', result: 'script', status: 200 });
    await s.events.flush();
    const rows = s.store.listEvents({ mac: '52:54:00:00:00:09' });
    expect(rows.map((r) => r.request)).toEqual(['GET /boot.ipxe']);
    await s.events.close();
    s.db.$client.close();
  });
});

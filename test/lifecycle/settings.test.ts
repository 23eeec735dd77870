/**
 * The lifecycle settings and what a reload may change live.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { appliedConfig, configChanges } from '../../src/lifecycle.js';

describe('lifecycle settings', () => {
  it('defaults, and every source', () => {
    expect(loadConfig({})).toMatchObject({ shutdownDeadline: 30, eventRetentionDays: 90, eventRetentionCount: 1_000_000 });
    const c = loadConfig({
      argv: ['--shutdown-deadline', '5'],
      env: { CHAINBOOT_EVENT_RETENTION_DAYS: '0' },
      file: { path: 'c.json', text: JSON.stringify({ eventRetentionCount: 5000 }) },
    });
    expect(c).toMatchObject({ shutdownDeadline: 5, eventRetentionDays: 0, eventRetentionCount: 5000 });
  });

  it('bad values name the setting', () => {
    let err: unknown;
    try {
      loadConfig({ argv: ['--event-retention-days', 'x1', '--shutdown-deadline', '0', '--event-retention-count', 'lots'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'flag --shutdown-deadline: "0" is not a number of seconds (1–31536000)',
      'flag --event-retention-days: "x1" is not a whole number (0 or more)',
      'flag --event-retention-count: "lots" is not a whole number (0 or more)',
    ]);
  });
});

describe('reload: live and restart-only settings', () => {
  const base = loadConfig({ argv: ['--http-port', '8080'] });

  it('sorts changed settings into applied live and needing a restart', () => {
    const next = loadConfig({ argv: ['--http-port', '9090', '--log-level', 'debug', '--tftp-blksize-max', '1024', '--dhcp-loader-bios', 'ipxe.pxe', '--default-profile', 'rescue', '--data-dir', '/srv/x', '--tftp-single-port', 'on'] });
    const c = configChanges(base, next);
    expect(c.live.sort()).toEqual(['defaultProfile', 'dhcpLoaderBios', 'logLevel', 'tftpBlksizeMax']);
    expect(c.restart.sort()).toEqual(['dataDir', 'httpPort', 'tftpSinglePort']);
    // What runs after the reload: the live ones new, the others as they were.
    const applied = appliedConfig(base, next);
    expect(applied).toMatchObject({ logLevel: 'debug', tftpBlksizeMax: '1024', defaultProfile: 'rescue', httpPort: 8080, dataDir: './data', tftpSinglePort: 'off' });
    // A second reload with the same file still reports the restart-only ones, and applies nothing new.
    expect(configChanges(applied, next)).toEqual({ live: [], restart: expect.arrayContaining(['dataDir', 'httpPort', 'tftpSinglePort']) });
  });

  it('nothing changed: nothing to do', () => {
    expect(configChanges(base, loadConfig({ argv: ['--http-port', '8080'] }))).toEqual({ live: [], restart: [] });
  });
});

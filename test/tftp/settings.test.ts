import { describe, expect, it } from 'vitest';
import { parseTftpSettings, TFTP_SETTINGS } from '../../src/tftp/settings.js';

describe('parseTftpSettings', () => {
  it('defaults', () => {
    expect(parseTftpSettings({})).toEqual({
      value: {
        fallbackPort: 6969,
        host: '0.0.0.0',
        blksizeMax: 1468,
        blksizeBySubnet: [],
        windowsizeMax: 64,
        noOptions: false,
        singlePort: false,
        caseInsensitive: false,
        maxSessions: 1000,
        maxSessionsPerClient: 32,
        retries: 5,
        timeoutMs: 1000,
      },
      problems: [],
    });
  });

  it('values as flags/env give them', () => {
    const r = parseTftpSettings({
      tftpFallbackPort: 'off',
      tftpBindAddress: '10.0.0.5',
      tftpBlksizeMax: '1408',
      tftpBlksizeBySubnet: '10.9.0.0/16=512',
      tftpWindowsizeMax: '1',
      tftpNoOptions: 'on',
      tftpSinglePort: 'yes',
      tftpCaseInsensitive: 'true',
      tftpMaxSessions: '64',
      tftpMaxSessionsPerClient: '8',
      tftpRetries: '3',
      tftpTimeoutMs: 500,
    });
    expect(r.problems).toEqual([]);
    expect(r.value).toEqual({
      fallbackPort: undefined,
      host: '10.0.0.5',
      blksizeMax: 1408,
      blksizeBySubnet: [{ cidr: '10.9.0.0/16', max: 512 }],
      windowsizeMax: 1,
      noOptions: true,
      singlePort: true,
      caseInsensitive: true,
      maxSessions: 64,
      maxSessionsPerClient: 8,
      retries: 3,
      timeoutMs: 500,
    });
  });

  it('every bad value is reported, naming its setting', () => {
    const r = parseTftpSettings({
      tftpFallbackPort: '70000',
      tftpBindAddress: 'eth0',
      tftpBlksizeMax: '4',
      tftpBlksizeBySubnet: '10.0.0.0/8:512',
      tftpNoOptions: 'maybe',
      tftpTimeoutMs: '1s',
    });
    expect(r.problems).toEqual([
      'tftpFallbackPort "70000" must be a whole number 1–65535',
      'tftpBindAddress "eth0" must be an IP address',
      'tftpBlksizeBySubnet: blksize rule "10.0.0.0/8:512": expected CIDR=MAX, e.g. 10.1.0.0/16=1024',
      'tftpBlksizeMax "4" must be a whole number 8–65464',
      'tftpNoOptions "maybe" must be on or off',
      'tftpTimeoutMs "1s" must be a whole number 10–255000',
    ]);
  });

  it('every setting has help text and a tftp prefix', () => {
    for (const s of TFTP_SETTINGS) {
      expect(s.key.startsWith('tftp')).toBe(true);
      expect(s.help.length).toBeGreaterThan(10);
    }
  });
});

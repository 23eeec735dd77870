import { describe, expect, it } from 'vitest';
import { clientKey, createFailureLimiter, createLoginLimiter } from '../../src/http/limits.js';
import { parseHttpLimitSettings, HTTP_LIMIT_SETTINGS } from '../../src/http/settings.js';

describe('clientKey', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:0:0:0:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['64:ff9b::10.0.0.1', '64:ff9b:0:0::/64'],
    ['local', 'local'],
    ['', 'unknown'],
  ])('%s → %s', (addr, key) => {
    expect(clientKey(addr)).toBe(key);
  });
});

describe('failure limiter', () => {
  it('refuses at the limit, says when to come back, and forgets failures after the window', () => {
    let t = 1_000_000;
    const l = createFailureLimiter({ limit: 3, windowMs: 60_000, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(l.blocked('10.0.0.1')).toBe(false);
      l.failed('10.0.0.1');
      t += 1000;
    }
    expect(l.blocked('10.0.0.1')).toBe(true);
    expect(l.retryAfter('10.0.0.1')).toBe(57); // the first failure leaves the window at 1,060,000
    expect(l.blocked('10.0.0.2')).toBe(false);
    expect(l.retryAfter('10.0.0.2')).toBe(0);
    t += 57_000;
    expect(l.blocked('10.0.0.1')).toBe(false);
  });

  it('counts the addresses of one IPv6 /64 as one client', () => {
    const l = createFailureLimiter({ limit: 2 });
    l.failed('2001:db8:1:2::1');
    l.failed('2001:db8:1:2::dead:beef');
    expect(l.blocked('2001:db8:1:2:ffff::9')).toBe(true);
    expect(l.blocked('2001:db8:1:3::1')).toBe(false);
  });

  it('keeps at most maxClients clients and limit timestamps each, without dropping live records wholesale', () => {
    let t = 0;
    const l = createFailureLimiter({ limit: 2, windowMs: 60_000, maxClients: 100, now: () => t });
    l.failed('10.9.9.9');
    l.failed('10.9.9.9');
    for (let i = 0; i < 50; i++) l.failed('10.9.9.9');
    // A flood from 99 other addresses: the blocked client's record is the most recent, so it stays.
    for (let i = 0; i < 99; i++) {
      t++;
      l.failed(`10.0.${i >> 8}.${i & 255}`);
    }
    l.failed('10.9.9.9');
    for (let i = 0; i < 50; i++) l.failed(`10.1.0.${i}`);
    expect(l.size).toBeLessThanOrEqual(100);
    expect(l.blocked('10.9.9.9')).toBe(true);
  });

  it('is what the admin UI uses for its sign-in form', async () => {
    const ui = await import('../../src/ui/session.js');
    expect(ui.createLoginLimiter).toBe(createLoginLimiter);
  });
});

describe('HTTP limit settings', () => {
  it('has defaults that parse, and names the setting in every problem', () => {
    const defaults = Object.fromEntries(HTTP_LIMIT_SETTINGS.map((s) => [s.key, s.def]));
    expect(parseHttpLimitSettings(defaults)).toEqual({
      value: { total: 4096, perClient: 64, headersTimeoutMs: 20_000, requestTimeoutMs: 120_000, idleTimeoutMs: 300_000 },
      problems: [],
    });
    const bad = parseHttpLimitSettings({ httpMaxConnections: '-1', httpHeadersTimeout: '0', httpIdleTimeout: 'soon' });
    expect(bad.problems).toEqual([
      'httpMaxConnections "-1" must be a whole number 0–1000000',
      'httpHeadersTimeout "0" must be a whole number 1–3600',
      'httpIdleTimeout "soon" must be a whole number 0–86400',
    ]);
    expect(parseHttpLimitSettings({ httpHeadersTimeout: '200', httpRequestTimeout: '100' }).problems).toEqual(['httpHeadersTimeout (200 s) must not be longer than httpRequestTimeout (100 s)']);
  });
});

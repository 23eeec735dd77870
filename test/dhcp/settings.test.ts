import { describe, expect, it } from 'vitest';
import { parseDhcpSettings } from '../../src/dhcp/settings.js';
import { dhcpConfigText } from '../../src/dhcp/dhcp-config.js';
import { pickServerAddress, localAddresses } from '../../src/dhcp/address.js';
import { createMacRateLimiter, createRateLimiter } from '../../src/dhcp/ratelimit.js';

describe('parseDhcpSettings', () => {
  it('defaults: BIOS and x64 UEFI loaders, follow, no delay, no menu, 20/5 rate limit', () => {
    const { value, problems } = parseDhcpSettings({});
    expect(problems).toEqual([]);
    expect(value).toEqual({
      advertiseIp: undefined,
      bindAddress: '0.0.0.0',
      loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi' },
      defaultMode: 'follow',
      replyDelayMs: 0,
      extraVendorClasses: [],
      macPrefixArch: {},
      junkUuidFallback: true,
      answerWithoutUuid: true,
      menu: undefined,
      rateLimit: { burst: 20, perSecond: 5 },
    });
  });

  it('parses every setting', () => {
    const { value, problems } = parseDhcpSettings({
      advertiseIp: '10.0.0.5',
      dhcpLoaderEfi64: 'snponly.efi',
      dhcpLoaderArm64: 'ipxe-arm64.efi',
      dhcpLoaderExtra: 'rpi5=rpi5/ipxe.efi',
      dhcpDefaultMode: 'ignore',
      dhcpReplyDelayMs: '250',
      dhcpExtraVendorClasses: 'HW-Client, Etherboot',
      dhcpMacPrefixArch: 'D8-3A-DD=rpi5,00:11:22=11',
      dhcpJunkUuidFallback: 'off',
      dhcpAnswerWithoutUuid: 'off',
      dhcpMenu: 'onkey',
      dhcpMenuTimeout: '8',
      dhcpMenuItems: 'Install=netboot;Pi=netboot:rpi5;Disk=local',
      dhcpRateLimit: 'off',
    });
    expect(problems).toEqual([]);
    expect(value.loaders).toEqual({ bios: 'undionly.kpxe', efi64: 'snponly.efi', arm64: 'ipxe-arm64.efi', rpi5: 'rpi5/ipxe.efi' });
    expect(value.macPrefixArch).toEqual({ 'd8:3a:dd': 'rpi5', '00:11:22': 11 });
    expect(value.extraVendorClasses).toEqual(['HW-Client', 'Etherboot']);
    expect(value.menu).toEqual({
      display: 'onkey',
      timeoutSec: 8,
      prompt: 'Press F8 for the boot menu',
      items: [
        { label: 'Install', action: 'netboot' },
        { label: 'Pi', action: 'netboot', loader: 'rpi5' },
        { label: 'Disk', action: 'local' },
      ],
    });
    expect(value).toMatchObject({ advertiseIp: '10.0.0.5', defaultMode: 'ignore', replyDelayMs: 250, junkUuidFallback: false, answerWithoutUuid: false, rateLimit: false });
  });

  it('names every problem', () => {
    const { problems } = parseDhcpSettings({
      advertiseIp: '0.0.0.0',
      dhcpBindAddress: 'any',
      dhcpLoaderBios: '../etc/passwd',
      dhcpDefaultMode: 'sometimes',
      dhcpReplyDelayMs: '1.5',
      dhcpMacPrefixArch: 'zz=1,d8:3a:dd=pi',
      dhcpMenu: 'onkey',
      dhcpMenuTimeout: '0',
      dhcpMenuItems: 'Disk=local',
      dhcpRateLimit: 'lots',
    });
    expect(problems).toEqual([
      'advertiseIp "0.0.0.0" must be a unicast IPv4 address of this host (not 0.0.0.0 or loopback)',
      'dhcpBindAddress "any" must be an IPv4 address',
      'loader bios: "../etc/passwd" must be a file name under the loader root (no .., spaces, quotes or leading /) or an http(s) URL',
      'dhcpDefaultMode "sometimes" must be follow, loader or ignore',
      'dhcpReplyDelayMs "1.5" must be a whole number of ms, 0–10000',
      'dhcpMacPrefixArch: "zz=1" must be PREFIX=ARCH or PREFIX=LOADERKEY (e.g. d8:3a:dd=arm64)',
      'dhcpMacPrefixArch: d8:3a:dd=pi: no loader "pi" (set dhcpLoaderPi or dhcpLoaderExtra=pi=FILE)',
      'dhcpMenuTimeout "0" must be 1–254 seconds',
      'dhcpMenuItems needs at least one netboot item',
      'dhcpRateLimit "lots" must be BURST/PER_SECOND (e.g. 20/5) or off',
    ]);
  });
});

describe('dhcpConfigText', () => {
  const o = { serverIp: '10.0.0.5', httpBaseUrl: 'http://10.0.0.5:8080/', loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi', arm64: 'ipxe-arm64.efi' } };
  for (const kind of ['isc', 'kea', 'dnsmasq', 'windows'] as const) {
    it(`${kind}: iPXE → boot.ipxe, arch → loader, HTTPClient → URL`, async () => {
      const text = dhcpConfigText(kind, o);
      expect(text).toContain('http://10.0.0.5:8080/boot.ipxe');
      expect(text).toContain('undionly.kpxe');
      expect(text).toContain('ipxe-arm64.efi');
      expect(text).toContain('http://10.0.0.5:8080/loaders/ipxe.efi');
      expect(text).toContain('HTTPClient');
      expect(text).toContain('10.0.0.5');
      await expect(text).toMatchFileSnapshot(`fixtures/dhcp-config.${kind}.txt`);
    });
  }
  it('kea output is valid JSON after its comment lines', () => {
    const text = dhcpConfigText('kea', o);
    const json = JSON.parse(text.split('\n').filter((l) => !l.startsWith('//')).join('\n')) as { 'client-classes': { name: string }[] };
    expect(json['client-classes'].map((c) => c.name)).toEqual(['chainboot-ipxe', 'chainboot-http-efi64', 'chainboot-http-arm64', 'chainboot-efi64', 'chainboot-arm64', 'chainboot-bios']);
  });
  it('rejects an unknown kind', () => {
    expect(() => dhcpConfigText('infoblox' as 'isc', o)).toThrow('unknown DHCP server kind "infoblox": use one of isc, kea, dnsmasq, windows');
  });
});

describe('pickServerAddress', () => {
  const locals = localAddresses({
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: null }],
    eth0: [{ address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: null }],
    eth1: [{ address: '192.168.7.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: null }],
  });
  it('never offers loopback', () => expect(locals.map((l) => l.address)).toEqual(['10.0.0.5', '192.168.7.1']));
  it('configured wins; 0.0.0.0 and loopback are refused', () => {
    expect(pickServerAddress('10.9.9.9', {}, locals)).toEqual({ address: '10.9.9.9', how: 'configured' });
    expect(pickServerAddress('127.0.0.1', {}, locals)).toHaveProperty('error');
    expect(pickServerAddress('0.0.0.0', {}, locals)).toHaveProperty('error');
  });
  it('the relay, client or sender subnet picks the interface', () => {
    expect(pickServerAddress(undefined, { giaddr: '192.168.7.254' }, locals)).toEqual({ address: '192.168.7.1', how: 'relay-subnet' });
    expect(pickServerAddress(undefined, { giaddr: '172.16.0.1', source: '192.168.7.9' }, locals)).toEqual({ address: '192.168.7.1', how: 'sender-subnet' });
    expect(pickServerAddress(undefined, { ciaddr: '10.0.0.77' }, locals)).toEqual({ address: '10.0.0.5', how: 'client-subnet' });
    expect(pickServerAddress(undefined, { source: '0.0.0.0' }, locals)).toEqual({ address: '10.0.0.5', how: 'first-interface' });
    expect(pickServerAddress(undefined, {}, locals.slice(1))).toEqual({ address: '192.168.7.1', how: 'only-interface' });
    expect(pickServerAddress(undefined, {}, [])).toEqual({ error: 'this host has no non-loopback IPv4 address to advertise; set advertiseIp (CHAINBOOT_ADVERTISE_IP)' });
  });
});

describe('rate limiter', () => {
  it('allows a burst, then the refill rate, per key', () => {
    let t = 0;
    const rl = createRateLimiter({ burst: 3, perSecond: 1 }, () => t);
    expect([1, 2, 3, 4].map(() => rl.allow('a'))).toEqual([true, true, true, false]);
    expect(rl.allow('b')).toBe(true);
    t = 1000;
    expect([rl.allow('a'), rl.allow('a')]).toEqual([true, false]);
  });
  it('stays bounded under a flood of distinct keys', () => {
    let t = 0;
    const rl = createRateLimiter({ burst: 2, perSecond: 1 }, () => t, 1000);
    for (let i = 0; i < 5000; i++) {
      t += 1;
      rl.allow(`k${i}`);
    }
    expect(rl.size).toBeLessThanOrEqual(1000);
  });
  it('forgets a key only once its bucket has refilled', () => {
    let t = 0;
    const rl = createRateLimiter({ burst: 2, perSecond: 1 }, () => t);
    t = 1500;
    expect([rl.allow('a'), rl.allow('a'), rl.allow('a')]).toEqual([true, true, false]);
    t = 2100;
    rl.allow('x'); // the generations turn over: 'a' is in the previous one
    t = 2600;
    // 1.1 tokens back, not a fresh burst of 2
    expect([rl.allow('a'), rl.allow('a')]).toEqual([true, false]);
    // Unused for more than a refill period, twice over: dropped (a full bucket would give the same).
    t = 4700;
    rl.allow('b');
    t = 6800;
    rl.allow('c');
    expect(rl.size).toBe(2);
    expect([rl.allow('a'), rl.allow('a'), rl.allow('a')]).toEqual([true, true, false]);
  });
});

describe('per-MAC rate limiter (typed arrays)', () => {
  const mac = (n: number) => Buffer.from([0x02, 0x00, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

  it('allows a burst, then the refill rate, per MAC; other MACs are untouched', () => {
    let t = 0;
    const rl = createMacRateLimiter({ burst: 3, perSecond: 1 }, () => t);
    expect([1, 2, 3, 4].map(() => rl.allow(mac(1)))).toEqual([true, true, true, false]);
    expect(rl.allow(mac(2))).toBe(true);
    // Only the first 6 bytes of chaddr count.
    expect(rl.allow(Buffer.concat([mac(1), Buffer.alloc(10, 0xff)]))).toBe(false);
    t = 1000;
    expect([rl.allow(mac(1)), rl.allow(mac(1))]).toEqual([true, false]);
    t = 1500;
    // Half a token is not a request.
    expect(rl.allow(mac(1))).toBe(false);
    expect(rl.size).toBe(2);
  });

  it('tells apart MACs that differ in any byte, including the first two', () => {
    const rl = createMacRateLimiter({ burst: 1, perSecond: 0.001 }, () => 0);
    const a = Buffer.from([0x00, 0x00, 0, 0, 0, 1]);
    const b = Buffer.from([0x01, 0x00, 0, 0, 0, 1]);
    const c = Buffer.from([0x00, 0x01, 0, 0, 0, 1]);
    expect([a, b, c, a, b, c].map((m) => rl.allow(m))).toEqual([true, true, true, false, false, false]);
  });

  it('stays bounded under a flood of distinct MACs, pushing out the longest unused first', () => {
    let t = 0;
    const rl = createMacRateLimiter({ burst: 2, perSecond: 1 }, () => t, 1024);
    // A flooding MAC is limited…
    expect([rl.allow(mac(0)), rl.allow(mac(0)), rl.allow(mac(0))]).toEqual([true, true, false]);
    for (let i = 1; i <= 5000; i++) {
      t += 0.01;
      rl.allow(mac(i));
      // …and stays limited while it keeps sending, whatever else arrives.
      if (i % 16 === 0) expect(rl.allow(mac(0))).toBe(false);
    }
    expect(rl.size).toBeLessThanOrEqual(1024);
    expect(rl.size).toBeGreaterThan(900);
  });
});

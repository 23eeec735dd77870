/**
 * The boot correlator on its own, with a hand-moved clock: which steps start
 * a boot, which continue it, how addresses lead to MACs, and its bounds.
 */
import { describe, expect, it } from 'vitest';
import { createBootCorrelator } from '../../src/metrics/boot-id.js';

const A = '52:54:00:ab:cd:01';
const B = '52:54:00:ab:cd:02';
const MIN = 60_000;

function clock() {
  let t = 1_700_000_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('boot correlation ids', () => {
  it('are 8 hex characters, different per boot', () => {
    const c = createBootCorrelator();
    const ids = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = c.dhcp(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, i, true);
      expect(id).toMatch(/^[0-9a-f]{8}$/);
      ids.add(id);
    }
    // 32 random bits: 2000 ids collide with probability ~0.05%.
    expect(ids.size).toBeGreaterThanOrEqual(1999);
    expect(c.stats.started).toBe(2000);
  });

  it('one boot: firmware DISCOVER and its retransmissions, REQUESTs, iPXE asking again, then HTTP', () => {
    const k = clock();
    const c = createBootCorrelator({ now: k.now });
    const boot = c.dhcp(A, 0x1111, true);
    k.advance(4000);
    expect(c.dhcp(A, 0x1111, true)).toBe(boot); // the same DISCOVER sent again
    expect(c.dhcp(A, 0x1111, false, '10.0.0.50')).toBe(boot); // REQUEST to the site server (option 50)
    expect(c.dhcp(A, 0x2222, false, '10.0.0.50')).toBe(boot); // port-4011 REQUEST
    expect(c.forIp('10.0.0.50')).toBe(boot); // TFTP of the loader
    k.advance(20_000);
    expect(c.dhcp(A, 0x3333, false)).toBe(boot); // iPXE's DISCOVER: not a firmware one
    expect(c.forIp('10.0.0.50')).toBe(boot); // /boot.ipxe
    expect(c.step(A, '10.0.0.50')).toBe(boot); // /ipxe?mac=
    expect(c.stats.started).toBe(1);
  });

  it('a firmware DISCOVER with a new transaction is a new boot (the machine rebooted)', () => {
    const k = clock();
    const c = createBootCorrelator({ now: k.now });
    const first = c.dhcp(A, 1, true);
    c.step(A, '10.0.0.50');
    k.advance(MIN);
    const second = c.dhcp(A, 2, true);
    expect(second).not.toBe(first);
    expect(c.forIp('10.0.0.50')).toBe(second);
  });

  it('a quiet gap starts a new boot at any step; activity keeps a boot alive', () => {
    const k = clock();
    const c = createBootCorrelator({ now: k.now, quietMs: 10 * MIN });
    const boot = c.step(A, '10.0.0.50');
    for (let i = 0; i < 5; i++) {
      k.advance(9 * MIN);
      expect(c.forIp('10.0.0.50')).toBe(boot); // an installer fetching packages every 9 minutes
    }
    k.advance(10 * MIN + 1);
    const next = c.step(A, '10.0.0.50');
    expect(next).not.toBe(boot);
    k.advance(11 * MIN);
    expect(c.dhcp(A, 9, false)).not.toBe(next); // even a non-starting DHCP packet, after the gap
  });

  it('peek reads without starting or extending a boot', () => {
    const k = clock();
    const c = createBootCorrelator({ now: k.now, quietMs: 10 * MIN });
    expect(c.peek(A)).toBeUndefined();
    expect(c.peek(undefined, '10.0.0.50')).toBeUndefined();
    expect(c.stats.started).toBe(0);
    const boot = c.step(A, '10.0.0.50');
    expect(c.peek(A)).toBe(boot);
    expect(c.peek(undefined, '10.0.0.50')).toBe(boot);
    k.advance(6 * MIN);
    c.peek(A);
    k.advance(6 * MIN);
    expect(c.peek(A)).toBeUndefined(); // peeking did not keep it alive
  });

  it('a machine known only by address (site DHCP sends it straight to TFTP) keeps its boot when its MAC shows up', () => {
    const c = createBootCorrelator();
    const boot = c.forIp('10.0.0.77')!;
    expect(boot).toMatch(/^[0-9a-f]{8}$/);
    expect(c.forIp('10.0.0.77')).toBe(boot);
    expect(c.macForIp('10.0.0.77')).toBeUndefined();
    expect(c.step(B, '10.0.0.77')).toBe(boot); // /ipxe?mac= from that address takes the boot over
    expect(c.macForIp('10.0.0.77')).toBe(B);
    expect(c.peek(B)).toBe(boot);
    expect(c.stats.started).toBe(1);
  });

  it('an address that moves to another MAC follows it', () => {
    const c = createBootCorrelator();
    const a = c.step(A, '10.0.0.50');
    const b = c.dhcp(B, 5, true, '10.0.0.50');
    expect(b).not.toBe(a);
    expect(c.macForIp('10.0.0.50')).toBe(B);
    expect(c.forIp('10.0.0.50')).toBe(b);
  });

  it('is bounded: idle boots and addresses go, ones in use stay', () => {
    const c = createBootCorrelator({ maxEntries: 64 }); // 128 slots each
    const idle = c.step(A, '10.0.0.1');
    const busy = c.step(B, '10.0.0.2');
    for (let i = 0; i < 2000; i++) {
      c.step(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, `10.1.${i >> 8}.${i & 255}`);
      if (i % 4 === 0) expect(c.forIp('10.0.0.2')).toBe(busy); // a machine still downloading
    }
    expect(c.stats.boots).toBeLessThanOrEqual(128);
    expect(c.stats.addresses).toBeLessThanOrEqual(128);
    expect(c.stats.boots).toBeGreaterThanOrEqual(64);
    expect(c.peek(B)).toBe(busy);
    expect(c.macForIp('10.0.0.2')).toBe(B);
    expect(c.peek(A)).toBeUndefined();
    expect(c.macForIp('10.0.0.1')).toBeUndefined();
    expect(c.step(A)).not.toBe(idle);
  });

  it('grows from a small table without losing what it holds', () => {
    const c = createBootCorrelator();
    const ids = new Map<string, string>();
    for (let i = 0; i < 20_000; i++) {
      const mac = `02:00:00:${(i >> 16).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      ids.set(mac, c.step(mac, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`));
    }
    expect(c.stats.boots).toBe(20_000);
    expect(c.stats.addresses).toBe(20_000);
    let i = 0;
    for (const [mac, id] of ids) {
      expect(c.peek(mac)).toBe(id);
      expect(c.macForIp(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)).toBe(mac);
      i++;
    }
  });

  it('MACs in any spelling are one machine; addresses other than IPv4 work too', () => {
    const c = createBootCorrelator();
    const id = c.step('08:00:27:4D:4D:AA', 'fe80::1');
    expect(c.peek('08-00-27-4d-4d-aa')).toBe(id);
    expect(c.forIp('fe80::1')).toBe(id);
    expect(c.macForIp('fe80::1')).toBe('08:00:27:4d:4d:aa');
    expect(c.macForIp('fe80::2')).toBeUndefined();
    expect(c.macForIp('10.0.0.1')).toBeUndefined();
  });

  it('a boot storm costs no more per new machine than a known one (no O(n) trimming)', () => {
    // 300,000 boots through a full table: a Map trimmed by deleting its oldest
    // key took some 25 µs a boot here (V8 walks the holes deletions leave);
    // bounded generously so only that kind of regression fails it.
    const c = createBootCorrelator();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 300_000; i++) c.dhcp(`02:00:${(i >> 16).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`, i, true);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(c.stats.started).toBe(300_000);
    expect(ms).toBeLessThan(3000);
  });
});

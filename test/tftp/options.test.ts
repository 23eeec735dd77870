import { describe, expect, it } from 'vitest';
import { blksizeMaxFor, negotiate, parseSubnetLimits, parseSubnetLimitText, type NegotiationLimits } from '../../src/tftp/options.js';

const lim: NegotiationLimits = { blksizeMax: 1468, windowsizeMax: 64, size: 70000, defaultTimeoutMs: 1000, noOptions: false };

describe('negotiate', () => {
  it('no options: RFC 1350 defaults and no OACK', () => {
    expect(negotiate([], lim)).toEqual({ blksize: 512, windowsize: 1, timeoutMs: 1000, accepted: [], ignored: [] });
  });

  it('PXE firmware request: tsize answered with the size, blksize granted', () => {
    const n = negotiate(
      [
        ['tsize', '0'],
        ['blksize', '1456'],
      ],
      lim,
    );
    expect(n.blksize).toBe(1456);
    expect(n.accepted).toEqual([
      ['tsize', '70000'],
      ['blksize', '1456'],
    ]);
  });

  it('blksize above the maximum is lowered to it; out of range is ignored (no OACK entry)', () => {
    expect(negotiate([['blksize', '65464']], lim)).toMatchObject({ blksize: 1468, accepted: [['blksize', '1468']] });
    expect(negotiate([['blksize', '8']], lim)).toMatchObject({ blksize: 8, accepted: [['blksize', '8']] });
    for (const v of ['7', '65465', 'abc', '', '-1', '1e3']) {
      const n = negotiate([['blksize', v]], lim);
      expect(n.blksize).toBe(512);
      expect(n.accepted).toEqual([]);
      expect(n.ignored[0]).toMatchObject({ name: 'blksize', value: v });
    }
  });

  it('windowsize (RFC 7440) clamped to the server maximum', () => {
    expect(negotiate([['windowsize', '8']], lim)).toMatchObject({ windowsize: 8, accepted: [['windowsize', '8']] });
    expect(negotiate([['windowsize', '1000']], lim)).toMatchObject({ windowsize: 64, accepted: [['windowsize', '64']] });
    expect(negotiate([['windowsize', '0']], lim)).toMatchObject({ windowsize: 1, accepted: [] });
  });

  it('timeout 1–255 s accepted as given, else ignored', () => {
    expect(negotiate([['timeout', '3']], lim)).toMatchObject({ timeoutMs: 3000, accepted: [['timeout', '3']] });
    expect(negotiate([['timeout', '0']], lim)).toMatchObject({ timeoutMs: 1000, accepted: [] });
    expect(negotiate([['timeout', '256']], lim)).toMatchObject({ timeoutMs: 1000, accepted: [] });
  });

  it('tsize with any value in a read request is a question (atftp sends "enable")', () => {
    expect(negotiate([['tsize', 'enable']], lim).accepted).toEqual([['tsize', '70000']]);
  });

  it('unknown and repeated options are ignored, not answered', () => {
    const n = negotiate(
      [
        ['multicast', ''],
        ['blksize', '1024'],
        ['blksize', '800'],
      ],
      lim,
    );
    expect(n.accepted).toEqual([['blksize', '1024']]);
    expect(n.ignored.map((i) => i.why)).toEqual(['unknown option', 'repeated']);
  });

  it('noOptions: everything ignored, no OACK', () => {
    const n = negotiate(
      [
        ['blksize', '1468'],
        ['tsize', '0'],
      ],
      { ...lim, noOptions: true },
    );
    expect(n).toMatchObject({ blksize: 512, windowsize: 1, accepted: [] });
    expect(n.ignored).toHaveLength(2);
  });
});

describe('blksize per subnet', () => {
  const parsed = parseSubnetLimits([
    { cidr: '10.0.0.0/8', max: 1024 },
    { cidr: '10.1.2.0/24', max: 512 },
    { cidr: '192.168.50.0/24', max: 8192 },
  ]);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));

  it('most specific rule wins; none matching = global max', () => {
    expect(blksizeMaxFor('10.9.9.9', parsed.limits, 1468)).toBe(1024);
    expect(blksizeMaxFor('10.1.2.3', parsed.limits, 1468)).toBe(512);
    expect(blksizeMaxFor('192.168.50.7', parsed.limits, 1468)).toBe(8192);
    expect(blksizeMaxFor('172.16.0.1', parsed.limits, 1468)).toBe(1468);
    expect(blksizeMaxFor('::ffff:10.1.2.3', parsed.limits, 1468)).toBe(512);
    expect(blksizeMaxFor('fe80::1', parsed.limits, 1468)).toBe(1468);
  });

  it('/0 and /32', () => {
    const p = parseSubnetLimits([
      { cidr: '0.0.0.0/0', max: 600 },
      { cidr: '127.0.0.9/32', max: 700 },
    ]);
    if (!p.ok) throw new Error('bad');
    expect(blksizeMaxFor('127.0.0.9', p.limits, 1468)).toBe(700);
    expect(blksizeMaxFor('127.0.0.8', p.limits, 1468)).toBe(600);
  });

  it('bad rules are all reported', () => {
    const p = parseSubnetLimits([
      { cidr: '10.0.0.0', max: 512 },
      { cidr: '300.0.0.0/8', max: 512 },
      { cidr: '10.0.0.0/33', max: 512 },
      { cidr: '10.0.0.0/8', max: 7 },
    ]);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.problems).toHaveLength(4);
  });

  it('text form for a config setting', () => {
    expect(parseSubnetLimitText('10.0.0.0/8=1024, 192.168.7.0/24=512')).toEqual({
      ok: true,
      rules: [
        { cidr: '10.0.0.0/8', max: 1024 },
        { cidr: '192.168.7.0/24', max: 512 },
      ],
    });
    expect(parseSubnetLimitText('')).toEqual({ ok: true, rules: [] });
    const bad = parseSubnetLimitText('10.0.0.0/8:1024,1.2.3.0/24=5');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems[0]).toMatch(/expected CIDR=MAX/);
  });
});

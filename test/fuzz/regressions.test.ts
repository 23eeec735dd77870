/**
 * Each bug the fuzz properties found, as the input that showed it: these
 * stay fixed even if a generator changes and stops reaching them.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePacket, encodeRequest } from '../../src/tftp/packet.js';
import { formatHttpDate, parseHttpDate } from '../../src/http/range.js';
import { parseHostOs } from '../../src/boot/import.js';
import { resolveInRoot } from '../../src/http/safe-path.js';

const rrq = (s: string) => Buffer.concat([Buffer.from([0, 1]), Buffer.from(s, 'latin1')]);

describe('tftp decodePacket', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'CONSTRUCTOR'])('refuses the mode %j instead of returning an Object.prototype member', (mode) => {
    // Found: [0,1,1,0,…"constructor",0] decoded with mode = [Function: Object].
    expect(decodePacket(rrq(`\x01\0${mode}\0`))).toEqual({ ok: false, reason: `RRQ: unknown mode ${JSON.stringify(mode)}` });
  });

  it('keeps an option with an empty value as the last option', () => {
    // Found: {"op":"rrq","filename":"\u0001","mode":"octet","options":[["\u0001",""]]} encoded, then refused as "has no value".
    expect(decodePacket(encodeRequest('rrq', 'f', 'octet', [['tsize', '']]))).toEqual({ ok: true, packet: { op: 'rrq', filename: 'f', mode: 'octet', options: [['tsize', '']] } });
    expect(decodePacket(rrq('f\0octet\0blksize\x00512\0tsize\0\0'))).toMatchObject({ ok: true, packet: { options: [['blksize', '512'], ['tsize', '']] } });
  });

  it('still takes NUL padding after the last option', () => {
    for (const pad of ['', '\0', '\0\0', '\0\0\0']) {
      expect(decodePacket(rrq(`f\0octet\0blksize\x00512\0${pad}`))).toMatchObject({ ok: true, packet: { options: [['blksize', '512']] } });
      expect(decodePacket(rrq(`f\0octet\0${pad}`))).toMatchObject({ ok: true, packet: { options: [] } });
    }
  });
});

describe('parseHttpDate', () => {
  it('reads years 0000–0099 as themselves, not as 1900–1999', () => {
    // Found: "Thu, 31 Dec 0099 23:59:59 GMT" parsed as 1999-12-31T23:59:59Z.
    const t = parseHttpDate('Thu, 31 Dec 0099 23:59:59 GMT');
    expect(t).toBeDefined();
    expect(new Date(t!).getUTCFullYear()).toBe(99);
    expect(formatHttpDate(t!)).toBe('Thu, 31 Dec 0099 23:59:59 GMT');
    expect(new Date(parseHttpDate('Sun Nov  6 08:49:37 0094')!).toISOString()).toBe('0094-11-06T08:49:37.000Z');
    expect(new Date(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')!).toISOString()).toBe('1994-11-06T08:49:37.000Z');
  });
});

describe('parseHostOs', () => {
  const exists = (p: string) => p === 'debian-12';

  it('ends a line at a bare CR, as at LF and CRLF', () => {
    // Found: ["00:00:00:00:00:00,debian-12", "08-00-27-4D-4D-AA,"] joined by "\r" read as one line with profile "debian-12\r08-00-27-4D-4D-AA".
    const r = parseHostOs('00:00:00:00:00:00,debian-12\r08-00-27-4D-4D-AA, debian-12\r', exists);
    expect(r.problems).toEqual([]);
    expect(r.lines.map((l) => [l.line, l.mac])).toEqual([
      [1, '00:00:00:00:00:00'],
      [2, '08:00:27:4d:4d:aa'],
    ]);
  });

  it.each(['# note\u2028more', '#\u2029', '# \u2028x'])('drops a comment containing a line separator (%j)', (comment) => {
    // Found: /#.*$/ does not match across U+2028/U+2029, so "debian-12 # note\u2028more" became the profile.
    const r = parseHostOs(`08:00:27:4d:4d:aa, debian-12 ${comment}`, exists);
    expect(r.problems).toEqual([]);
    expect(r.lines).toEqual([{ line: 1, mac: '08:00:27:4d:4d:aa', profile: 'debian-12' }]);
  });
});

describe('resolveInRoot', () => {
  it('serves from a root of "/" (the prefix check was "//")', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-root-'));
    try {
      writeFileSync(join(dir, 'f.txt'), 'x');
      const r = resolveInRoot('/', `${dir.slice(1)}/f.txt`);
      expect(r.ok).toBe(true);
      expect(resolveInRoot('/', 'etc/../etc/passwd')).toMatchObject({ ok: false, status: 403 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

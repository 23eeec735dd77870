/**
 * The RFC 9110 Range and conditional-request rules as tables: header strings
 * and validators in, decisions out.
 */
import { describe, expect, it } from 'vitest';
import {
  contentRange,
  decide,
  formatHttpDate,
  ifRangeHolds,
  MAX_RANGES,
  multipartLayout,
  parseEntityTags,
  parseHttpDate,
  parseRange,
  segmentPieces,
  type RangeParse,
  type RequestFields,
  type Validators,
} from '../../src/http/range.js';
import { contentTypeFor, entityTag, segmentName } from '../../src/http/asset-meta.js';

const r = (...pairs: [number, number][]): RangeParse => ({ kind: 'ranges', ranges: pairs.map(([start, end]) => ({ start, end })), coalesced: false });
const merged = (...pairs: [number, number][]): RangeParse => ({ kind: 'ranges', ranges: pairs.map(([start, end]) => ({ start, end })), coalesced: true });
const none = { kind: 'none' };
const unsat: RangeParse = { kind: 'unsatisfiable' };

describe('parseRange (RFC 9110 §14.1.1, §14.2)', () => {
  it.each<[string | undefined, number, RangeParse | typeof none]>([
    // absent
    [undefined, 1000, { kind: 'none' }],
    // single int-ranges, clamped to the representation
    ['bytes=0-499', 1000, r([0, 499])],
    ['bytes=500-999', 1000, r([500, 999])],
    ['bytes=500-1999', 1000, r([500, 999])],
    ['bytes=999-999', 1000, r([999, 999])],
    ['bytes=0-0', 1, r([0, 0])],
    // open-ended
    ['bytes=500-', 1000, r([500, 999])],
    ['bytes=0-', 1000, r([0, 999])],
    // suffix
    ['bytes=-500', 1000, r([500, 999])],
    ['bytes=-1', 1000, r([999, 999])],
    ['bytes=-5000', 1000, r([0, 999])],
    // unit is case-insensitive; OWS around commas and empty list elements are fine
    ['BYTES=0-1', 1000, r([0, 1])],
    ['Bytes=0-1', 1000, r([0, 1])],
    ['bytes=0-1, 5-6', 1000, r([0, 1], [5, 6])],
    ['bytes=0-1 ,\t5-6', 1000, r([0, 1], [5, 6])],
    ['bytes=,0-1,,5-6,', 1000, r([0, 1], [5, 6])],
    // several ranges keep the client's order when they neither overlap nor touch
    ['bytes=500-599,0-99', 1000, r([500, 599], [0, 99])],
    ['bytes=0-0,-1', 1000, r([0, 0], [999, 999])],
    // overlapping or adjacent ranges are coalesced and sorted (§15.3.7.2)
    ['bytes=0-499,400-999', 1000, merged([0, 999])],
    ['bytes=0-9,10-19', 1000, merged([0, 19])],
    ['bytes=500-599,0-99,50-149', 1000, merged([0, 149], [500, 599])],
    ['bytes=0-1,0-1,0-1', 1000, merged([0, 1])],
    ['bytes=-100,950-', 1000, merged([900, 999])],
    // unsatisfiable specs are dropped when others remain
    ['bytes=0-9,2000-3000', 1000, r([0, 9])],
    ['bytes=-0,0-9', 1000, r([0, 9])],
    // nothing satisfiable: 416
    ['bytes=1000-', 1000, unsat],
    ['bytes=1000-2000', 1000, unsat],
    ['bytes=5000-6000,7000-', 1000, unsat],
    ['bytes=-0', 1000, unsat],
    ['bytes=0-', 0, unsat],
    // zero-length representation: a suffix-range is "satisfiable" but there is no byte to send
    ['bytes=-10', 0, { kind: 'none', reason: 'empty representation' }],
    // huge numbers stay ordered and never overflow into nonsense
    ['bytes=0-99999999999999999999999999', 1000, r([0, 999])],
    ['bytes=99999999999999999999999999-', 1000, unsat],
    ['bytes=-99999999999999999999999999', 1000, r([0, 999])],
    // files over 4 GiB
    ['bytes=5368709120-5368709129', 6 * 2 ** 30, r([5368709120, 5368709129])],
    ['bytes=-10', 6 * 2 ** 30, r([6 * 2 ** 30 - 10, 6 * 2 ** 30 - 1])],
  ])('%s of %i bytes', (field, size, want) => {
    const got = parseRange(field, size);
    if (want.kind === 'none' && !('reason' in want)) expect(got.kind).toBe('none');
    else expect(got).toEqual(want);
  });

  // Syntactically invalid: the field is ignored and the full 200 is sent.
  it.each([
    'bytes',
    'bytes=',
    'bytes=,',
    '=0-1',
    'bytes 0-1',
    'bytes =0-1',
    'bytes= 0-1x',
    'bytes=0-1-2',
    'bytes=a-b',
    'bytes=1-0',
    'bytes=0-1,5-2',
    'bytes=--1',
    'bytes=0x10-0x20',
    'bytes=+1-2',
    'bytes=1.5-2',
    'bytes=0 - 1',
    'bytes=-',
    'items=0-1',
    'none=0-1',
    'by tes=0-1',
    '',
  ])('ignores %j', (field) => {
    expect(parseRange(field, 1000).kind).toBe('none');
  });

  it(`ignores more than ${MAX_RANGES} ranges rather than serving a part per byte`, () => {
    const many = 'bytes=' + Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 2}-${i * 2}`).join(',');
    expect(parseRange(many, 10_000)).toMatchObject({ kind: 'none', reason: `more than ${MAX_RANGES} ranges` });
    const enough = 'bytes=' + Array.from({ length: MAX_RANGES }, (_, i) => `${i * 2}-${i * 2}`).join(',');
    expect(parseRange(enough, 10_000)).toMatchObject({ kind: 'ranges' });
  });
});

describe('entity tags (§8.8.3)', () => {
  it.each<[string, ReturnType<typeof parseEntityTags>]>([
    ['*', '*'],
    [' * ', '*'],
    ['"abc"', [{ weak: false, tag: '"abc"' }]],
    ['W/"abc"', [{ weak: true, tag: '"abc"' }]],
    ['"a", W/"b" ,"c"', [{ weak: false, tag: '"a"' }, { weak: true, tag: '"b"' }, { weak: false, tag: '"c"' }]],
    ['"a,b"', [{ weak: false, tag: '"a,b"' }]],
    ['""', [{ weak: false, tag: '""' }]],
    ['abc', undefined],
    ['"abc', undefined],
    ['"a" "b"', undefined],
    ['w/"abc"', undefined],
    ['"a b"', undefined],
    ['', undefined],
  ])('%j', (field, want) => {
    expect(parseEntityTags(field)).toEqual(want);
  });
});

describe('HTTP-date (§5.6.7)', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  const now = Date.UTC(2026, 0, 1);
  it.each<[string, number | undefined]>([
    ['Sun, 06 Nov 1994 08:49:37 GMT', t],
    ['Sunday, 06-Nov-94 08:49:37 GMT', t],
    ['Sun Nov  6 08:49:37 1994', t],
    ['Sun Nov 16 08:49:37 1994', Date.UTC(1994, 10, 16, 8, 49, 37)],
    // two-digit years: more than 50 years ahead means the previous century
    ['Friday, 01-Jan-99 00:00:00 GMT', Date.UTC(1999, 0, 1)],
    ['Thursday, 01-Jan-70 00:00:00 GMT', Date.UTC(2070, 0, 1)],
    ['Friday, 01-Jan-27 00:00:00 GMT', Date.UTC(2027, 0, 1)],
    ['Sun, 06 Nov 1994 08:49:37 UTC', undefined],
    ['Sun, 6 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 31 Feb 1994 08:49:37 GMT', undefined],
    ['Sun, 06 Nov 1994 24:00:00 GMT', undefined],
    ['1', undefined],
    ['2026-01-01T00:00:00Z', undefined],
    ['"etag"', undefined],
    ['', undefined],
  ])('%j', (v, want) => {
    expect(parseHttpDate(v, now)).toBe(want);
  });

  it('formats IMF-fixdate and reads it back', () => {
    expect(formatHttpDate(t)).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(parseHttpDate(formatHttpDate(1_700_000_000_000))).toBe(1_700_000_000_000);
  });
});

describe('decide: preconditions in the order of §13.2.2, then Range', () => {
  const lastModified = Date.UTC(2026, 0, 1, 12, 0, 0, 250);
  const rep: Validators = { size: 1000, etag: '"v1"', lastModified, now: lastModified + 60_000 };
  const LM = formatHttpDate(lastModified);
  const EARLIER = formatHttpDate(lastModified - 1000);
  const LATER = formatHttpDate(lastModified + 1000);
  const get = (f: Omit<RequestFields, 'method'> = {}): RequestFields => ({ method: 'GET', ...f });

  it.each<[string, RequestFields, ReturnType<typeof decide>]>([
    ['plain GET', get(), { status: 200 }],
    ['plain HEAD', { method: 'HEAD' }, { status: 200 }],
    ['Range', get({ range: 'bytes=0-9' }), { status: 206, ranges: [{ start: 0, end: 9 }], coalesced: false }],
    ['Range on HEAD is ignored (§14.2: defined for GET only)', { method: 'HEAD', range: 'bytes=0-9' }, { status: 200 }],
    ['unsatisfiable Range', get({ range: 'bytes=1000-' }), { status: 416 }],
    ['bad Range', get({ range: 'bytes=9-0' }), { status: 200, reason: 'Range ignored: range-spec "9-0" ends before it starts' }],
    // If-None-Match (weak comparison) wins over If-Modified-Since
    ['If-None-Match match', get({ ifNoneMatch: '"v1"' }), { status: 304 }],
    ['If-None-Match weak match', get({ ifNoneMatch: 'W/"v1"' }), { status: 304 }],
    ['If-None-Match in a list', get({ ifNoneMatch: '"v0", "v1"' }), { status: 304 }],
    ['If-None-Match *', get({ ifNoneMatch: '*' }), { status: 304 }],
    ['If-None-Match on HEAD', { method: 'HEAD', ifNoneMatch: '"v1"' }, { status: 304 }],
    ['If-None-Match miss', get({ ifNoneMatch: '"v0"' }), { status: 200 }],
    ['If-None-Match miss beats a matching If-Modified-Since', get({ ifNoneMatch: '"v0"', ifModifiedSince: LATER }), { status: 200 }],
    ['If-None-Match over a Range', get({ ifNoneMatch: '"v1"', range: 'bytes=0-9' }), { status: 304 }],
    // If-Modified-Since, whole seconds
    ['If-Modified-Since = Last-Modified', get({ ifModifiedSince: LM }), { status: 304 }],
    ['If-Modified-Since later', get({ ifModifiedSince: LATER }), { status: 304 }],
    ['If-Modified-Since earlier', get({ ifModifiedSince: EARLIER }), { status: 200 }],
    ['If-Modified-Since not a date', get({ ifModifiedSince: 'yesterday' }), { status: 200 }],
    // If-Match / If-Unmodified-Since (strong comparison)
    ['If-Match match', get({ ifMatch: '"v1"', range: 'bytes=0-0' }), { status: 206, ranges: [{ start: 0, end: 0 }], coalesced: false }],
    ['If-Match *', get({ ifMatch: '*' }), { status: 200 }],
    ['If-Match miss', get({ ifMatch: '"v0"' }), { status: 412, reason: 'If-Match did not match' }],
    ['If-Match weak never matches', get({ ifMatch: 'W/"v1"' }), { status: 412, reason: 'If-Match did not match' }],
    ['If-Unmodified-Since earlier', get({ ifUnmodifiedSince: EARLIER }), { status: 412, reason: 'modified since If-Unmodified-Since' }],
    ['If-Unmodified-Since = Last-Modified', get({ ifUnmodifiedSince: LM }), { status: 200 }],
    ['If-Match present: If-Unmodified-Since not evaluated', get({ ifMatch: '"v1"', ifUnmodifiedSince: EARLIER }), { status: 200 }],
    // If-Range
    ['If-Range with the ETag', get({ range: 'bytes=0-9', ifRange: '"v1"' }), { status: 206, ranges: [{ start: 0, end: 9 }], coalesced: false }],
    ['If-Range with an old ETag: the full 200', get({ range: 'bytes=0-9', ifRange: '"v0"' }), { status: 200, reason: 'If-Range did not match' }],
    ['If-Range with a weak ETag', get({ range: 'bytes=0-9', ifRange: 'W/"v1"' }), { status: 200, reason: 'If-Range did not match' }],
    ['If-Range with Last-Modified', get({ range: 'bytes=0-9', ifRange: LM }), { status: 206, ranges: [{ start: 0, end: 9 }], coalesced: false }],
    ['If-Range with another date', get({ range: 'bytes=0-9', ifRange: EARLIER }), { status: 200, reason: 'If-Range did not match' }],
    ['If-Range garbage', get({ range: 'bytes=0-9', ifRange: 'whenever' }), { status: 200, reason: 'If-Range did not match' }],
    ['If-Range without Range', get({ ifRange: '"v0"' }), { status: 200 }],
  ])('%s', (_, req, want) => {
    expect(decide(req, rep)).toEqual(want);
  });

  it('If-Range with a date fails while Last-Modified is younger than a second (a weak validator, §8.8.2.2)', () => {
    const fresh = { ...rep, now: lastModified + 500 };
    expect(ifRangeHolds(LM, fresh)).toBe(false);
    expect(ifRangeHolds('"v1"', fresh)).toBe(true);
    expect(ifRangeHolds(LM, rep)).toBe(true);
  });
});

describe('multipart/byteranges layout (§14.6)', () => {
  it('frames each part and counts the exact length', () => {
    const ranges = [
      { start: 0, end: 4 },
      { start: 10, end: 12 },
    ];
    const l = multipartLayout(ranges, 20, 'application/octet-stream', 'B');
    const data = '0123456789ABCDEFGHIJ';
    const body = l.parts.map((p) => p.head + data.slice(p.range.start, p.range.end + 1)).join('') + l.tail;
    expect(body).toBe(
      '--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-4/20\r\n\r\n01234' +
        '\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 10-12/20\r\n\r\nABC' +
        '\r\n--B--\r\n',
    );
    expect(l.length).toBe(Buffer.byteLength(body));
    expect(l.contentType).toBe('multipart/byteranges; boundary=B');
  });

  it('Content-Range for single parts and 416', () => {
    expect(contentRange({ start: 0, end: 9 }, 100)).toBe('bytes 0-9/100');
    expect(contentRange(null, 100)).toBe('bytes */100');
  });
});

describe('split image sets', () => {
  it.each<[string, number, string]>([
    ['disk.img', 0, 'disk.img'],
    ['disk.img', 1, 'disk.002'],
    ['disk.img', 2, 'disk.003'],
    ['disk.img', 998, 'disk.999'],
    ['disk.img', 999, 'disk.1000'],
    ['disk.001', 1, 'disk.002'],
    ['disk.000', 1, 'disk.001'],
    ['disk.0001', 9, 'disk.0010'],
    ['archive.tar.gz', 1, 'archive.tar.002'],
    ['noext', 1, 'noext.002'],
  ])('%s, segment %i is %s', (first, i, want) => {
    expect(segmentName(first, i)).toBe(want);
  });

  it.each<[number[], [number, number], ReturnType<typeof segmentPieces>]>([
    [[10, 10, 10], [0, 29], [
      { segment: 0, offset: 0, length: 10 },
      { segment: 1, offset: 0, length: 10 },
      { segment: 2, offset: 0, length: 10 },
    ]],
    [[10, 10, 10], [5, 14], [
      { segment: 0, offset: 5, length: 5 },
      { segment: 1, offset: 0, length: 5 },
    ]],
    [[10, 10, 10], [10, 10], [{ segment: 1, offset: 0, length: 1 }]],
    [[10, 10, 10], [9, 20], [
      { segment: 0, offset: 9, length: 1 },
      { segment: 1, offset: 0, length: 10 },
      { segment: 2, offset: 0, length: 1 },
    ]],
    [[10, 0, 10], [8, 11], [
      { segment: 0, offset: 8, length: 2 },
      { segment: 2, offset: 0, length: 2 },
    ]],
    [[2 ** 31, 2 ** 31, 5], [2 ** 32 - 1, 2 ** 32 + 1], [
      { segment: 1, offset: 2 ** 31 - 1, length: 1 },
      { segment: 2, offset: 0, length: 2 },
    ]],
  ])('sizes %j, range %j', (sizes, [start, end], want) => {
    expect(segmentPieces(sizes, { start, end })).toEqual(want);
  });

  it('one ETag over all segments, distinct from the first file alone, and changed by any segment', () => {
    const a = { ino: 1, size: 10, mtimeMs: 1000.5 };
    const b = { ino: 2, size: 10, mtimeMs: 1000.5 };
    const set = entityTag([a, b], true);
    expect(set).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(entityTag([a], false)).not.toBe(entityTag([a], true));
    expect(entityTag([a, { ...b, mtimeMs: 1000.6 }], true)).not.toBe(set);
    expect(entityTag([a, { ...b, size: 11 }], true)).not.toBe(set);
    expect(entityTag([a, { ...b, ino: 3 }], true)).not.toBe(set);
    expect(entityTag([a, b], true)).toBe(set);
  });
});

describe('content types', () => {
  it.each([
    ['ipxe.efi', 'application/efi'],
    ['undionly.kpxe', 'application/octet-stream'],
    ['winpe.iso', 'application/x-iso9660-image'],
    ['boot.wim', 'application/x-ms-wim'],
    ['disk.img', 'application/octet-stream'],
    ['ks.cfg', 'text/plain; charset=utf-8'],
    ['menu.ipxe', 'text/plain; charset=utf-8'],
    ['rocky9/.treeinfo', 'text/plain; charset=utf-8'],
    ['vmlinuz', 'application/octet-stream'],
    ['initrd.gz', 'application/gzip'],
    ['DISK.IMG', 'application/octet-stream'],
    ['BOOT.EFI', 'application/efi'],
  ])('%s is %s', (name, type) => {
    expect(contentTypeFor(name)).toBe(type);
  });
});

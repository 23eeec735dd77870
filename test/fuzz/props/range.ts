/**
 * RFC 9110 Range / conditional logic: any header text gives a decision, the
 * ranges of a 206 lie inside the representation, are disjoint, at most
 * MAX_RANGES of them, and never add up to more than the representation (a
 * header of 10,000 overlapping ranges is not turned into 10,000 parts).
 */
import fc from 'fast-check';
import { decide, formatHttpDate, MAX_RANGES, multipartLayout, parseEntityTags, parseHttpDate, parseRange, type Validators } from '../../../src/http/range.js';
import { textOf } from '../arb.js';
import type { FuzzCase } from '../case.js';

const num = fc.oneof(
  fc.integer({ min: 0, max: 2000 }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.constantFrom('0', '00', '9007199254740993', '1'.repeat(400), ''),
);
const spec = fc.oneof(
  fc.tuple(num, num).map(([a, b]) => `${a}-${b}`),
  num.map((n) => `-${n}`),
  num.map((n) => `${n}-`),
  textOf(['-', '0', '1', ' ', '\t', ',', '=', 'x', '9'], 6),
);
const ows = fc.constantFrom('', ' ', '\t', '  ');
const rangeSet = fc.array(fc.tuple(ows, spec, ows).map((p) => p.join('')), { maxLength: 30 }).map((s) => s.join(','));
const unit = fc.constantFrom('bytes', 'BYTES', 'Bytes', 'items', 'bytes ', '', 'b y');
const rangeHeader = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(unit, rangeSet).map(([u, s]) => `${u}=${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  // Thousands of ranges: refused or coalesced, never thousands of parts.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 12_000 }), fc.constantFrom('0-', '0-0', '-1', '1-1', '5-10')).map(([n, s]) => `bytes=${Array(n).fill(s).join(',')}`) },
  { weight: 1, arbitrary: fc.array(fc.tuple(fc.nat(5000), fc.nat(50)), { minLength: 150, maxLength: 260 }).map((rs) => `bytes=${rs.map(([a, l]) => `${a}-${a + l}`).join(',')}`) },
);
const size = fc.oneof(fc.integer({ min: 0, max: 6000 }), fc.constantFrom(0, 1, 2 ** 32 + 7, 2 ** 53 - 1));

const etag = fc.oneof(fc.constant('"abc"'), fc.string({ unit: 'binary-ascii', maxLength: 8 }).map((s) => `"${s}"`));
const dateText = fc.oneof(
  fc.integer({ min: 0, max: 4e12 }).map((ms) => formatHttpDate(ms)),
  fc.constantFrom('Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', 'Sun, 31 Feb 1994 08:49:37 GMT', '1', ''),
);
const conditional = fc.oneof(fc.constant(undefined), etag, dateText, textOf(['W/', '"', ',', ' ', '*', 'abc', '"abc"'], 8));

const rep: fc.Arbitrary<Validators> = fc.record({
  size,
  etag: fc.constant('"abc"'),
  lastModified: fc.integer({ min: 0, max: 4e12 }),
  now: fc.integer({ min: 0, max: 4e12 }),
});

function checkRanges(ranges: { start: number; end: number }[], size: number, coalesced: boolean): void {
  if (ranges.length === 0 || ranges.length > MAX_RANGES) throw new Error(`${ranges.length} ranges`);
  let total = 0;
  for (const r of ranges) {
    if (!(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.start <= r.end && r.end < size)) throw new Error(`range ${r.start}-${r.end} of ${size}`);
    total += r.end - r.start + 1;
  }
  if (total > size) throw new Error(`${total} bytes of ranges in a ${size}-byte representation`);
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.start <= sorted[i - 1]!.end) throw new Error('overlapping ranges');
  if (coalesced) for (let i = 1; i < ranges.length; i++) if (ranges[i]!.start <= ranges[i - 1]!.end + 1) throw new Error('coalesced ranges unsorted or touching');
}

export const rangeCases: FuzzCase[] = [
  {
    name: 'range: any Range header → none / 416 / bounded, disjoint ranges inside the representation',
    runs: 3000,
    setup: () => ({
      property: fc.property(rangeHeader, size, (h, sz) => {
        const r = parseRange(h, sz);
        if (r.kind !== 'ranges') return;
        checkRanges(r.ranges, sz, r.coalesced);
        // The multipart body stays within the bytes asked for plus a bounded header per part.
        const layout = multipartLayout(r.ranges, sz, 'application/octet-stream', 'b'.repeat(24));
        const bound = r.ranges.reduce((n, x) => n + x.end - x.start + 1, 0) + r.ranges.length * 200 + 100;
        if (layout.length > bound) throw new Error(`multipart body of ${layout.length} bytes, bound ${bound}`);
      }),
    }),
  },
  {
    name: 'range: decide never throws on any combination of conditional headers',
    runs: 2000,
    setup: () => ({
      property: fc.property(fc.constantFrom('GET', 'HEAD', 'POST'), fc.oneof(fc.constant(undefined), rangeHeader), conditional, conditional, conditional, conditional, conditional, rep, (method, range, ifMatch, ifNoneMatch, ims, ius, ifRange, v) => {
        const d = decide({ method, range, ifMatch, ifNoneMatch, ifModifiedSince: ims, ifUnmodifiedSince: ius, ifRange }, v);
        if (![200, 206, 304, 412, 416].includes(d.status)) throw new Error(`status ${d.status}`);
        if (d.status === 206) {
          if (method !== 'GET') throw new Error(`206 for ${method}`);
          checkRanges(d.ranges, v.size, d.coalesced);
        }
      }),
    }),
  },
  {
    name: 'range: entity-tag lists parse to quoted tags or undefined',
    runs: 1500,
    setup: () => ({
      property: fc.property(textOf(['W/', '"', ',', ' ', '\t', '*', 'abc', '"abc"', '\x00', '\x7f'], 12), (s) => {
        const t = parseEntityTags(s);
        if (t === undefined || t === '*') return;
        for (const x of t) if (!(x.tag.length >= 2 && x.tag.startsWith('"') && x.tag.endsWith('"') && !x.tag.slice(1, -1).includes('"'))) throw new Error(`tag ${JSON.stringify(x.tag)}`);
      }),
    }),
  },
  {
    name: 'range: an IMF-fixdate the server formats parses back to the same second (years 0–9999)',
    runs: 2000,
    setup: () => ({
      property: fc.property(fc.integer({ min: new Date(0).setUTCFullYear(0, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) }), (ms) => {
        const back = parseHttpDate(formatHttpDate(ms));
        if (back !== Math.floor(ms / 1000) * 1000) throw new Error(`${formatHttpDate(ms)} parsed as ${back === undefined ? 'nothing' : new Date(back).toISOString()}`);
      }),
    }),
  },
];

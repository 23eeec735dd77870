/**
 * RFC 9110 byte ranges and conditional requests as pure functions: header
 * strings and a representation's validators in, a decision out. No I/O, so
 * every rule is tested on strings (test/http/range.test.ts); the route only
 * carries the decision out.
 */

/** An inclusive byte range, as in Content-Range. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeParse =
  /** No Range field, or one the server ignores (§14.2: a syntactically invalid Range is ignored, giving 200). */
  | { kind: 'none'; reason?: string }
  /** Valid syntax, but no range-spec is satisfiable (§15.5.17: 416). */
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[]; coalesced: boolean };

/**
 * More range-specs than this and the whole field is ignored (§14.2 lets a
 * server ignore a range-set of many small or overlapping ranges, a sign of a
 * broken client or of a denial-of-service attempt). Apache's MaxRanges
 * default is 200 for the same reason.
 */
export const MAX_RANGES = 200;

const DIGITS = /^[0-9]+$/;
// tchar of a token (RFC 9110 §5.6.2): what a range-unit may be made of.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses a Range field against a representation of `size` bytes (§14.1.1,
 * §14.2). Satisfiable ranges are clamped to the representation; ranges that
 * overlap or touch are coalesced and then sorted (§15.3.7.2 allows coalescing
 * "regardless of the order" asked), otherwise the client's order is kept.
 */
export function parseRange(field: string | undefined | null, size: number): RangeParse {
  if (field === undefined || field === null) return { kind: 'none' };
  const eq = field.indexOf('=');
  if (eq <= 0) return { kind: 'none', reason: 'no range unit' };
  const unit = field.slice(0, eq);
  if (!TOKEN.test(unit)) return { kind: 'none', reason: 'bad range unit' };
  // Range units are case-insensitive (§14.1); an unknown unit is ignored (§14.2).
  if (unit.toLowerCase() !== 'bytes') return { kind: 'none', reason: `unit "${unit}" not supported` };

  // 1#range-spec: elements separated by OWS "," OWS; empty elements are
  // accepted and skipped (§5.6.1.2), but at least one must be present.
  const specs = field
    .slice(eq + 1)
    .split(',')
    .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''))
    .filter((s) => s !== '');
  if (specs.length === 0) return { kind: 'none', reason: 'empty range-set' };
  if (specs.length > MAX_RANGES) return { kind: 'none', reason: `more than ${MAX_RANGES} ranges` };

  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    const dash = spec.indexOf('-');
    if (dash < 0) return { kind: 'none', reason: `range-spec "${spec}" has no "-"` };
    const first = spec.slice(0, dash);
    const last = spec.slice(dash + 1);
    if (first === '') {
      // suffix-range: the last N bytes; satisfiable when N > 0 (§14.1.1),
      // the whole representation when it is shorter than N.
      if (!DIGITS.test(last)) return { kind: 'none', reason: `bad suffix-range "${spec}"` };
      const n = Number(last);
      if (n > 0 && size > 0) satisfiable.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    if (!DIGITS.test(first) || (last !== '' && !DIGITS.test(last))) return { kind: 'none', reason: `bad int-range "${spec}"` };
    // Numbers past 2^53 lose precision but stay ordered, which is all the
    // comparisons below need (sizes are far smaller), and never overflow.
    const start = Number(first);
    const end = last === '' ? Infinity : Number(last);
    // A last-pos below first-pos makes the whole range-set invalid (§14.1.1).
    if (end < start) return { kind: 'none', reason: `range-spec "${spec}" ends before it starts` };
    // An int-range is satisfiable when first-pos < length; last-pos is clamped.
    if (start < size) satisfiable.push({ start, end: Math.min(end, size - 1) });
  }
  if (satisfiable.length === 0) {
    // With zero length the only satisfiable form is a suffix-range (§14.1.1),
    // and there is no byte to name in a Content-Range: serve the empty 200.
    if (size === 0 && specs.some((s) => s.startsWith('-') && Number(s.slice(1)) > 0)) return { kind: 'none', reason: 'empty representation' };
    return { kind: 'unsatisfiable' };
  }
  const merged = coalesce(satisfiable);
  return merged === satisfiable ? { kind: 'ranges', ranges: satisfiable, coalesced: false } : { kind: 'ranges', ranges: merged, coalesced: true };
}

/** Returns the same array when no two ranges overlap or touch; otherwise the sorted union. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length < 2) return ranges;
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let touching = false;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.start <= sorted[i - 1]!.end + 1) touching = true;
  if (!touching) return ranges;
  const out: ByteRange[] = [{ ...sorted[0]! }];
  for (const r of sorted.slice(1)) {
    const prev = out[out.length - 1]!;
    if (r.start <= prev.end + 1) prev.end = Math.max(prev.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

// ---- entity tags (§8.8.3) ---------------------------------------------------

export interface EntityTag {
  weak: boolean;
  /** The opaque-tag including its double quotes. */
  tag: string;
}

/**
 * Parses an If-Match / If-None-Match list: "*" or 1#entity-tag. Returns
 * undefined for a field that does not parse, which the caller treats as
 * absent. Commas may appear inside an opaque-tag (etagc includes %x2C), so
 * this scans quote by quote rather than splitting on ",".
 */
export function parseEntityTags(field: string): '*' | EntityTag[] | undefined {
  const s = field.trim();
  if (s === '*') return '*';
  const tags: EntityTag[] = [];
  let i = 0;
  const skipListGap = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  skipListGap();
  while (i < s.length) {
    let weak = false;
    if (s.startsWith('W/', i)) {
      weak = true;
      i += 2;
    }
    if (s[i] !== '"') return undefined;
    const close = s.indexOf('"', i + 1);
    if (close < 0) return undefined;
    const tag = s.slice(i, close + 1);
    // etagc = %x21 / %x23-7E / obs-text: no controls, spaces or inner quotes.
    if (/[\u0000-\u0020\u007f]/.test(tag)) return undefined;
    tags.push({ weak, tag });
    i = close + 1;
    const before = i;
    skipListGap();
    if (i < s.length && (i === before || !s.slice(before, i).includes(','))) return undefined;
  }
  return tags.length ? tags : undefined;
}

/** Strong comparison (§8.8.3.2): both strong and identical. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.tag === b.tag;
}

/** Weak comparison (§8.8.3.2): identical opaque-tags, weakness ignored. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.tag === b.tag;
}

// ---- HTTP-date (§5.6.7) -----------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY3 = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const DAY_LONG = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const IMF_FIXDATE = new RegExp(`^${DAY3}, (\\d{2}) ${MON} (\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${DAY_LONG}, (\\d{2})-${MON}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY3} ${MON} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Parses an HTTP-date in any of the three formats a recipient must accept
 * (IMF-fixdate, obsolete RFC 850, asctime) to milliseconds since the epoch,
 * or undefined. Date.parse is not used: it accepts far more than HTTP-date
 * ("1" is a date to it), and an If-Range that is not a valid date must not
 * match anything.
 */
export function parseHttpDate(value: string, now = Date.now()): number | undefined {
  const v = value.trim();
  let day: number, mon: number, year: number, hh: number, mm: number, ss: number;
  let m = IMF_FIXDATE.exec(v);
  if (m) {
    [day, mon, year, hh, mm, ss] = [Number(m[1]), MONTHS.indexOf(m[2]!), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  } else if ((m = RFC850.exec(v))) {
    [day, mon, hh, mm, ss] = [Number(m[1]), MONTHS.indexOf(m[2]!), Number(m[4]), Number(m[5]), Number(m[6])];
    // A two-digit year more than 50 years in the future is taken as the most
    // recent past year with those digits (§5.6.7).
    const yy = Number(m[3]);
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
  } else if ((m = ASCTIME.exec(v))) {
    [mon, day, hh, mm, ss, year] = [MONTHS.indexOf(m[1]!), Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  } else {
    return undefined;
  }
  if (hh > 23 || mm > 59 || ss > 60) return undefined;
  // Not Date.UTC: it reads years 0–99 as 1900–1999, so "0099" would become 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, mon, day);
  date.setUTCHours(hh, mm, Math.min(ss, 59), 0);
  const t = date.getTime();
  // Reject impossible days (31 Feb) instead of letting Date roll them over.
  if (date.getUTCDate() !== day) return undefined;
  return t;
}

/** IMF-fixdate, the only format a sender generates (§5.6.7). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

// ---- the decision for one request (§13.2.2) ---------------------------------

export interface RequestFields {
  method: string;
  range?: string | null;
  ifMatch?: string | null;
  ifNoneMatch?: string | null;
  ifModifiedSince?: string | null;
  ifUnmodifiedSince?: string | null;
  ifRange?: string | null;
}

export interface Validators {
  size: number;
  /** The strong entity-tag, quotes included. */
  etag: string;
  /** Last-Modified in ms since the epoch (whole seconds are compared). */
  lastModified: number;
  /** The time of the response (the Date field), for the strength of Last-Modified. */
  now: number;
}

export type Decision =
  | { status: 200; reason?: string }
  | { status: 206; ranges: ByteRange[]; coalesced: boolean }
  | { status: 304 }
  | { status: 412; reason: string }
  | { status: 416 };

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * What to answer a GET or HEAD for a representation with these validators,
 * evaluating preconditions in the order of §13.2.2, then the Range field.
 */
export function decide(req: RequestFields, rep: Validators): Decision {
  const isGetOrHead = req.method === 'GET' || req.method === 'HEAD';
  const own: EntityTag = { weak: false, tag: rep.etag };

  // 1. If-Match: strong comparison; "*" matches any current representation.
  if (req.ifMatch != null) {
    const tags = parseEntityTags(req.ifMatch);
    if (tags !== undefined && tags !== '*' && !tags.some((t) => strongMatch(t, own))) return { status: 412, reason: 'If-Match did not match' };
  } else if (req.ifUnmodifiedSince != null) {
    // 2. If-Unmodified-Since, only without If-Match; an invalid date is ignored.
    const d = parseHttpDate(req.ifUnmodifiedSince, rep.now);
    if (d !== undefined && seconds(rep.lastModified) > seconds(d)) return { status: 412, reason: 'modified since If-Unmodified-Since' };
  }

  // 3. If-None-Match: weak comparison; a match means 304 for GET/HEAD.
  if (req.ifNoneMatch != null) {
    const tags = parseEntityTags(req.ifNoneMatch);
    if (tags !== undefined && (tags === '*' || tags.some((t) => weakMatch(t, own)))) {
      return isGetOrHead ? { status: 304 } : { status: 412, reason: 'If-None-Match matched' };
    }
  } else if (req.ifModifiedSince != null && isGetOrHead) {
    // 4. If-Modified-Since, only without If-None-Match and only for GET/HEAD.
    const d = parseHttpDate(req.ifModifiedSince, rep.now);
    if (d !== undefined && seconds(rep.lastModified) <= seconds(d)) return { status: 304 };
  }

  // 5. Range, only for GET (§14.2: "GET is the only method for which range
  // handling is defined", so a HEAD answers 200 with the full length, which is
  // what iPXE's HEAD for a block device's capacity expects).
  if (req.method !== 'GET' || req.range == null) return { status: 200 };
  if (req.ifRange != null && !ifRangeHolds(req.ifRange, rep)) return { status: 200, reason: 'If-Range did not match' };
  const r = parseRange(req.range, rep.size);
  if (r.kind === 'none') return r.reason ? { status: 200, reason: `Range ignored: ${r.reason}` } : { status: 200 };
  if (r.kind === 'unsatisfiable') return { status: 416 };
  return { status: 206, ranges: r.ranges, coalesced: r.coalesced };
}

/**
 * If-Range (§13.1.5): an entity-tag must match strongly (a weak one never
 * matches); an HTTP-date must equal Last-Modified exactly, and only counts
 * when Last-Modified is a strong validator, i.e. at least one second older
 * than the response's Date (§8.8.2.2) — a file changed within that second
 * could change again unseen.
 */
export function ifRangeHolds(field: string, rep: Validators): boolean {
  const v = field.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    const tags = parseEntityTags(v);
    return Array.isArray(tags) && tags.length === 1 && strongMatch(tags[0]!, { weak: false, tag: rep.etag });
  }
  const d = parseHttpDate(v, rep.now);
  if (d === undefined) return false;
  const strongDate = seconds(rep.now) - seconds(rep.lastModified) >= 1;
  return strongDate && seconds(d) === seconds(rep.lastModified);
}

// ---- multipart/byteranges (§14.6) -------------------------------------------

export interface MultipartLayout {
  contentType: string;
  /** Each part's delimiter and header block, followed by the range's bytes. */
  parts: { head: string; range: ByteRange }[];
  /** The close-delimiter. */
  tail: string;
  /** The exact body length, so the response has a Content-Length. */
  length: number;
}

/**
 * Lays out a multipart/byteranges body. The first delimiter has no leading
 * CRLF; every later one does, since that CRLF belongs to the delimiter and
 * not to the previous part's bytes (RFC 2046 §5.1.1).
 */
export function multipartLayout(ranges: ByteRange[], size: number, partType: string, boundary: string): MultipartLayout {
  let length = 0;
  const parts = ranges.map((range, i) => {
    const head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${partType}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`;
    length += Buffer.byteLength(head) + (range.end - range.start + 1);
    return { head, range };
  });
  const tail = `\r\n--${boundary}--\r\n`;
  length += Buffer.byteLength(tail);
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, tail, length };
}

// ---- split image sets --------------------------------------------------------

export interface SegmentPiece {
  /** Index of the segment file. */
  segment: number;
  /** Offset inside that segment. */
  offset: number;
  length: number;
}

/**
 * Maps a range of the virtual file made of segments of the given sizes onto
 * pieces of those segments, in order: a range that crosses a boundary
 * becomes the tail of one segment and the head of the next.
 */
export function segmentPieces(sizes: readonly number[], range: ByteRange): SegmentPiece[] {
  const out: SegmentPiece[] = [];
  let base = 0;
  for (let i = 0; i < sizes.length && base <= range.end; i++) {
    const size = sizes[i]!;
    const from = Math.max(range.start, base);
    const to = Math.min(range.end, base + size - 1);
    if (size > 0 && from <= to) out.push({ segment: i, offset: from - base, length: to - from + 1 });
    base += size;
  }
  return out;
}

/** Content-Range for a single-part 206 or a 416 (§14.4). */
export function contentRange(range: ByteRange | null, size: number): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}

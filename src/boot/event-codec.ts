/**
 * The wire form of a boot event batch between the event log and the writer
 * thread: one string of NUL-separated fields per batch (and one for the
 * hosts seen), not an array of objects.
 *
 * Why: postMessage copies its argument with the structured clone algorithm,
 * which walks every object and property twice (serialize on the event loop,
 * deserialize in the worker): for a DHCP event with its detail that was
 * about 2.7 µs on each side, more than the SQLite insert itself. One string
 * is one memcpy each way, and the worker binds the fields straight from
 * String.prototype.split (C++). The detail is JSON-encoded here, as it is
 * stored, so the worker does no JSON work at all.
 *
 * Fields never contain NUL: JSON escapes control characters, MACs, addresses,
 * numbers and kinds cannot hold one, and a NUL in a request or result (a
 * client can put one in a URL) is replaced with U+FFFD, which SQLite text
 * could not carry faithfully anyway. An empty field is NULL for the nullable
 * columns (mac, client_ip, detail): an empty MAC or address means none.
 */
import type { NewBootEvent } from '../db/schema.js';
import type { SeenHost } from '../db/store.js';

export const FIELDS_PER_EVENT = 11;
export const FIELDS_PER_HOST = 4;
const SEP = '\u0000';

export interface EncodedBatch {
  /** Events in this batch. */
  n: number;
  /**
   * at, mac, client_ip, kind, request, result, status, detail (JSON), then
   * the coalescing key, the times seen and the last time (empty without a
   * key), per event, NUL-separated.
   */
  rows: string;
  /** Hosts seen. */
  hosts: number;
  /** mac, first, at, facts (JSON) per host, NUL-separated. */
  seen: string;
}

function clean(s: string): string {
  return s.indexOf(SEP) < 0 ? s : s.replaceAll(SEP, '\uFFFD');
}

function detailJson(d: Record<string, unknown> | null | undefined): string {
  if (!d) return '';
  try {
    return JSON.stringify(d);
  } catch (e) {
    // A detail that cannot be stored (a BigInt, a cycle) must not cost the batch.
    return JSON.stringify({ unstorable: (e as Error).message });
  }
}

export function encodeBatch(events: NewBootEvent[], seen: Map<string, SeenHost>, keys?: (string | undefined)[]): EncodedBatch {
  const f: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const key = keys?.[i];
    f.push(
      String(e.at),
      e.mac ? clean(e.mac) : '',
      e.clientIp ? clean(e.clientIp) : '',
      clean(e.kind),
      clean(e.request),
      clean(e.result),
      String(e.status ?? 200),
      detailJson(e.detail),
    );
    if (key === undefined) f.push('', '', '');
    else {
      // An event merged with repeats in the log (events.ts) carries their count and last time in its detail.
      const d = e.detail as { count?: unknown; lastAt?: unknown } | null | undefined;
      f.push(clean(key), String(typeof d?.count === 'number' ? d.count : 1), String(typeof d?.lastAt === 'number' ? d.lastAt : e.at));
    }
  }
  const s: string[] = [];
  for (const [mac, v] of seen) s.push(clean(mac), String(v.first), String(v.at), v.facts && Object.keys(v.facts).length ? JSON.stringify(v.facts) : '');
  return { n: events.length, rows: f.join(SEP), hosts: seen.size, seen: s.join(SEP) };
}

/** One decoded event; `key` is null without a coalescing key (then count is 1 and lastAt is at). */
export interface EventRow {
  at: number;
  mac: string | null;
  clientIp: string | null;
  kind: string;
  request: string;
  result: string;
  status: number;
  detail: string | null;
  key: string | null;
  count: number;
  lastAt: number;
}

/** Calls `each` with every row of the batch, in order (one row object, reused: copy what you keep). */
export function forEachRow(b: EncodedBatch, each: (row: EventRow) => void): void {
  if (b.n === 0) return;
  const f = b.rows.split(SEP);
  if (f.length !== b.n * FIELDS_PER_EVENT) throw new Error(`event batch: ${f.length} fields for ${b.n} events (expected ${b.n * FIELDS_PER_EVENT})`);
  const r: EventRow = { at: 0, mac: null, clientIp: null, kind: '', request: '', result: '', status: 0, detail: null, key: null, count: 1, lastAt: 0 };
  for (let i = 0; i < f.length; i += FIELDS_PER_EVENT) {
    r.at = +f[i]!;
    r.mac = f[i + 1] || null;
    r.clientIp = f[i + 2] || null;
    r.kind = f[i + 3]!;
    r.request = f[i + 4]!;
    r.result = f[i + 5]!;
    r.status = +f[i + 6]!;
    r.detail = f[i + 7] || null;
    r.key = f[i + 8] || null;
    r.count = r.key === null ? 1 : +f[i + 9]!;
    r.lastAt = r.key === null ? r.at : +f[i + 10]!;
    each(r);
  }
}

/** A host's last-seen update as the writer applies it: facts stays JSON text (or null: keep the stored facts). */
export interface SeenRow {
  first: number;
  at: number;
  facts: string | null;
}

/**
 * Folds a batch's hosts into `into`: per host its first time, its latest
 * time and its latest reported facts (what writing the batches one after the
 * other would leave in the hosts table). `keep` skips hosts not worth it.
 */
export function mergeSeen(b: EncodedBatch, into: Map<string, SeenRow>, keep?: (mac: string) => boolean): void {
  if (b.hosts === 0) return;
  const f = b.seen.split(SEP);
  if (f.length !== b.hosts * FIELDS_PER_HOST) throw new Error(`event batch: ${f.length} host fields for ${b.hosts} hosts (expected ${b.hosts * FIELDS_PER_HOST})`);
  for (let i = 0; i < f.length; i += FIELDS_PER_HOST) {
    const mac = f[i]!;
    if (keep && !keep(mac)) continue;
    const facts = f[i + 3] || null;
    const had = into.get(mac);
    if (!had) into.set(mac, { first: +f[i + 1]!, at: +f[i + 2]!, facts });
    else {
      had.at = +f[i + 2]!;
      if (facts) had.facts = facts;
    }
  }
}

/**
 * A batch as posted to the writer thread: its two strings as UTF-8 in one
 * ArrayBuffer that is transferred (moved, not copied) and handed back with
 * the acknowledgement for reuse. Posting the strings themselves ran them
 * through V8's serializer, whose buffer grows by doubling from a few bytes:
 * a 128-event batch (some 80 kB) cost about 1 µs an event on the event loop.
 */
export interface PackedBatch {
  n: number;
  hosts: number;
  rowsBytes: number;
  seenBytes: number;
  encoding: 'latin1' | 'utf8';
  buf: ArrayBuffer;
}

/** Buffers handed back by the writer, for the next batches. */
export class BufferPool {
  private free: ArrayBuffer[] = [];
  constructor(private readonly keep = 64) {}
  /** A buffer of at least `bytes`. */
  take(bytes: number): ArrayBuffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i]!.byteLength >= bytes) return this.free.splice(i, 1)[0]!;
    }
    // Rounded up, so batches of about the same size reuse each other's buffers.
    // Not zero-filled: every byte read back was written first.
    return Buffer.allocUnsafeSlow(Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(bytes)))).buffer as ArrayBuffer;
  }
  give(buf: ArrayBuffer): void {
    if (buf.byteLength && this.free.length < this.keep) this.free.push(buf);
  }
  get size(): number {
    return this.free.length;
  }
}

export function packBatch(b: EncodedBatch, pool: BufferPool): PackedBatch {
  const rowsLen = Buffer.byteLength(b.rows, 'utf8');
  const seenLen = Buffer.byteLength(b.seen, 'utf8');
  // As many UTF-8 bytes as characters: all ASCII (DHCP storms are), where
  // latin1 is the same bytes and copies without UTF-8 encoding or decoding.
  const encoding = rowsLen === b.rows.length && seenLen === b.seen.length ? 'latin1' : 'utf8';
  const buf = pool.take(rowsLen + seenLen);
  const bytes = Buffer.from(buf);
  const rowsBytes = bytes.write(b.rows, 0, encoding);
  const seenBytes = bytes.write(b.seen, rowsBytes, encoding);
  return { n: b.n, hosts: b.hosts, rowsBytes, seenBytes, encoding, buf };
}

export function unpackBatch(p: PackedBatch): EncodedBatch {
  const bytes = Buffer.from(p.buf);
  return { n: p.n, hosts: p.hosts, rows: bytes.toString(p.encoding, 0, p.rowsBytes), seen: bytes.toString(p.encoding, p.rowsBytes, p.rowsBytes + p.seenBytes) };
}

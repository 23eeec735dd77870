/**
 * The event writer thread's path, in-thread: batches encoded as the event log
 * posts them (event-codec.ts) and written by the sink the worker runs
 * (event-sink.ts), against the real migrations. The worker thread itself
 * needs the built dist/ (bench/dhcp and the CLI tests run it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { BufferPool, encodeBatch, forEachRow, packBatch, unpackBatch } from '../../src/boot/event-codec.js';
import { createEventSink } from '../../src/boot/event-sink.js';
import type { NewBootEvent } from '../../src/db/schema.js';
import type { SeenHost } from '../../src/db/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const dhcp = (mac: string, at: number, xid: number): NewBootEvent => ({
  at,
  mac,
  clientIp: null,
  kind: 'dhcp',
  request: 'DISCOVER PXEClient:Arch:00000:UNDI:002001 arch 0 (x86 BIOS)',
  result: 'offer undionly.kpxe',
  status: 200,
  detail: { port: 67, xid, arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: ['iPXE'], why: 'arch 0 (x86 BIOS) from option93', count: 2 },
});

describe('event codec', () => {
  it('round-trips every column, with NULLs, numbers, odd text and a detail that cannot be JSON', () => {
    const events: NewBootEvent[] = [
      dhcp('02:00:00:00:00:01', 1_764_000_000_123, 0xdeadbeef),
      { at: 5, mac: null, clientIp: '10.0.0.9', kind: 'entry', request: '/boot.ipxe?x=\u0000y', result: 'tab\tnewline\n"quote" ünïcødé', status: 404, detail: null },
      { at: 6, mac: '02:00:00:00:00:02', kind: 'file', request: '', result: '', detail: { big: 1n } as unknown as Record<string, unknown> },
    ];
    const seen = new Map<string, SeenHost>([
      ['02:00:00:00:00:01', { first: 1, at: 9, facts: { arch: 'x86_64' } }],
      ['02:00:00:00:00:02', { first: 2, at: 3 }],
    ]);
    const b = encodeBatch(events, seen, ['dhcp 02:00:00:00:00:01 k', undefined, undefined]);
    const rows: unknown[][] = [];
    forEachRow(b, (r) => rows.push([r.at, r.mac, r.clientIp, r.kind, r.request, r.result, r.status, r.detail, r.key, r.count, r.lastAt]));
    expect(rows).toEqual([
      // detail.count 2 (merged in the log), no lastAt: the last time is the event's own.
      [1_764_000_000_123, '02:00:00:00:00:01', null, 'dhcp', events[0]!.request, 'offer undionly.kpxe', 200, JSON.stringify(events[0]!.detail), 'dhcp 02:00:00:00:00:01 k', 2, 1_764_000_000_123],
      [5, null, '10.0.0.9', 'entry', '/boot.ipxe?x=\uFFFDy', 'tab\tnewline\n"quote" ünïcødé', 404, null, null, 1, 5],
      [6, '02:00:00:00:00:02', null, 'file', '', '', 200, expect.stringContaining('"unstorable":'), null, 1, 6],
    ]);
  });

  it('packs a batch into a reusable buffer and back, whatever the characters', () => {
    const events: NewBootEvent[] = [
      dhcp('02:00:00:00:00:01', 1, 1),
      { at: 2, mac: null, kind: 'file', request: '/hosts/x/ünïcødé-😀', result: '€', status: 200, detail: { note: 'ß😀\u2028' } },
    ];
    const seen = new Map<string, SeenHost>([['02:00:00:00:00:01', { first: 1, at: 2, facts: { product: 'Büro-PC 😀' } }]]);
    const pool = new BufferPool();
    const encoded = encodeBatch(events, seen);
    const packed = packBatch(encoded, pool);
    expect(packed.encoding).toBe('utf8');
    expect(unpackBatch(packed)).toEqual(encoded);
    const ascii = encodeBatch([dhcp('02:00:00:00:00:01', 1, 1)], new Map());
    const packedAscii = packBatch(ascii, new BufferPool());
    expect(packedAscii.encoding).toBe('latin1');
    expect(unpackBatch(packedAscii)).toEqual(ascii);
    // Handed back, the buffer serves the next batch of that size.
    pool.give(packed.buf);
    expect(packBatch(encoded, pool).buf).toBe(packed.buf);
    expect(pool.size).toBe(0);
  });

  it('refuses a batch whose field count does not match its event count', () => {
    const b = encodeBatch([dhcp('02:00:00:00:00:01', 1, 1)], new Map());
    expect(() => forEachRow({ ...b, n: 2 }, () => {})).toThrow(/11 fields for 2 events \(expected 22\)/);
  });
});

describe('event sink', () => {
  it('writes batches in order in one go; last-seen goes to known hosts only, including one added by another connection', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainboot-sink-'));
    dirs.push(dir);
    const file = join(dir, 'chainboot.db');
    const store = createStore(openDb(file));
    store.createHost({ mac: '02:00:00:00:00:01' });
    const writerDb = openDb(file, { migrate: false });
    const sink = createEventSink(writerDb.$client);

    sink.write([
      encodeBatch([dhcp('02:00:00:00:00:01', 1000, 1), dhcp('02:00:00:00:00:99', 1001, 2)], new Map([
        ['02:00:00:00:00:01', { first: 1000, at: 1000, facts: { arch: 'x86_64' } }],
        ['02:00:00:00:00:99', { first: 1001, at: 1001 }],
      ])),
      encodeBatch([dhcp('02:00:00:00:00:01', 2000, 3)], new Map([['02:00:00:00:00:01', { first: 2000, at: 2000 }]])),
    ]);
    const rows = store.listEvents({ limit: 10 }).reverse();
    expect(rows.map((r) => [r.at, r.mac, r.detail?.xid])).toEqual([
      [1000, '02:00:00:00:00:01', 1],
      [1001, '02:00:00:00:00:99', 2],
      [2000, '02:00:00:00:00:01', 3],
    ]);
    expect(rows[0]).toMatchObject({ clientIp: null, kind: 'dhcp', status: 200, detail: dhcp('x', 0, 1).detail });
    expect(typeof rows[0]!.at).toBe('number');
    expect(store.getHost('02:00:00:00:00:01')).toMatchObject({ firstSeen: 1000, lastSeen: 2000, facts: { arch: 'x86_64' } });
    // An unknown MAC's events are kept, but no host appears for it.
    expect(store.getHost('02:00:00:00:00:99')).toBeUndefined();

    // A host registered meanwhile (here by the other connection) is known at the next write.
    store.createHost({ mac: '02:00:00:00:00:99' });
    sink.write([encodeBatch([dhcp('02:00:00:00:00:99', 3000, 4)], new Map([['02:00:00:00:00:99', { first: 3000, at: 3000 }]]))]);
    expect(store.getHost('02:00:00:00:00:99')).toMatchObject({ firstSeen: 3000, lastSeen: 3000 });
    writerDb.$client.close();
    store.db.$client.close();
  });

  it('a failing write stores nothing of the group', () => {
    const db = openDb(':memory:');
    const store = createStore(db);
    const sink = createEventSink(db.$client);
    const good = encodeBatch([dhcp('02:00:00:00:00:01', 1, 1)], new Map());
    expect(() => sink.write([good, { ...good, n: 3 }])).toThrow(/fields for 3 events/);
    expect(store.listEvents()).toEqual([]);
  });
});

describe('event sink: repeats across batches', () => {
  const retransmit = (at: number, extra: Record<string, unknown> = {}): NewBootEvent => ({ ...dhcp('02:00:00:00:00:01', at, 7), detail: { xid: 7, ...extra } });
  const KEY = 'dhcp 02:00:00:00:00:01 7 dhcp 200 offer undionly.kpxe';
  const write = (sink: ReturnType<typeof createEventSink>, events: NewBootEvent[], keys: (string | undefined)[]) => sink.write([encodeBatch(events, new Map(), keys)]);

  it('a repeat within the window raises the written row\'s count and last time instead of adding a row', () => {
    const db = openDb(':memory:');
    const store = createStore(db);
    const sink = createEventSink(db.$client, { coalesceMs: 64_000 });
    // PXE retransmissions of one DISCOVER: 0, 4, 12 s (the second already merged with one more in the log), 28 s.
    write(sink, [retransmit(0)], [KEY]);
    write(sink, [retransmit(4_000, { count: 2, lastAt: 4_100 })], [KEY]);
    write(sink, [retransmit(12_000), dhcp('02:00:00:00:00:02', 12_000, 9)], [KEY, 'other']);
    write(sink, [retransmit(28_000)], [KEY]);
    const rows = store.listEvents({ mac: '02:00:00:00:00:01' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ at: 0, detail: { xid: 7, count: 5, lastAt: 28_000 } });
    expect(store.listEvents({ mac: '02:00:00:00:00:02' })).toHaveLength(1);
    // Past the window (from the row's first time) it is a new row.
    write(sink, [retransmit(64_001)], [KEY]);
    expect(store.listEvents({ mac: '02:00:00:00:00:01' }).map((r) => [r.at, r.detail?.count])).toEqual([
      [64_001, undefined],
      [0, 5],
    ]);
    // Without a key nothing is merged.
    write(sink, [retransmit(64_002), retransmit(64_003)], [undefined, undefined]);
    expect(store.listEvents({ mac: '02:00:00:00:00:01' })).toHaveLength(4);
  });

  it('holds at most coalesceKeys keys, dropping the oldest', () => {
    const db = openDb(':memory:');
    const store = createStore(db);
    const sink = createEventSink(db.$client, { coalesceKeys: 2 });
    write(sink, [retransmit(1), retransmit(2), retransmit(3)], ['a', 'b', 'c']);
    write(sink, [retransmit(4), retransmit(5)], ['c', 'a']);
    // c was merged; a had been dropped (the oldest of three), so it is a new row.
    expect(store.listEvents().map((r) => [r.at, r.detail?.count ?? 1])).toEqual([
      [5, 1],
      [3, 2],
      [2, 1],
      [1, 1],
    ]);
  });

  it('forgets the rows of a failed write: a later repeat is a new row, not an update of a rolled-back id', () => {
    const db = openDb(':memory:');
    const store = createStore(db);
    const sink = createEventSink(db.$client);
    const ok = encodeBatch([retransmit(1)], new Map(), ['k']);
    const bad = { ...encodeBatch([retransmit(2)], new Map(), ['k2']), n: 5 };
    expect(() => sink.write([ok, bad])).toThrow(/fields for 5 events/);
    // Takes the id the rolled-back row had (AUTOINCREMENT's counter was rolled back with it).
    write(sink, [{ ...dhcp('02:00:00:00:00:09', 3, 1), detail: { xid: 1 } }], [undefined]);
    write(sink, [retransmit(4)], ['k']);
    expect(store.listEvents().map((r) => [r.at, r.mac, r.detail?.count ?? 1])).toEqual([
      [4, '02:00:00:00:00:01', 1],
      [3, '02:00:00:00:00:09', 1],
    ]);
  });
});

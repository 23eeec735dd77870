/**
 * The boot event log under DHCP load (src/boot/events.ts): retransmissions
 * coalesced into one event, and a writer that falls behind costing events
 * rather than memory. The store round trip is in test/db/store.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createEventLog, type EventWriter } from '../../src/boot/events.js';
import type { NewBootEvent } from '../../src/db/schema.js';
import type { SeenHost } from '../../src/db/store.js';

/** A writer whose batches stay unwritten until release() is called. */
function slowWriter() {
  const batches: { events: NewBootEvent[]; seen: Map<string, SeenHost>; done: () => void }[] = [];
  const writer: EventWriter = {
    write: (events, seen) => new Promise<void>((done) => batches.push({ events, seen, done })),
  };
  const release = () => {
    for (const b of batches.splice(0)) b.done();
  };
  return { writer, batches, release };
}

const event = (mac: string, xid: number, at: number, result = 'offer undionly.kpxe') => ({ at, mac, clientIp: null, kind: 'dhcp', request: 'DISCOVER', result, status: 200, detail: { xid } });

describe('boot event log: coalescing', () => {
  it('events with the same key while one is waiting become one, with a count and the last time', async () => {
    const w = slowWriter();
    const log = createEventLog({ writer: w.writer, intervalMs: 60_000 });
    log.record(event('02:00:00:00:00:01', 7, 1000), undefined, 'k7');
    log.record(event('02:00:00:00:00:01', 7, 1004), undefined, 'k7');
    log.record(event('02:00:00:00:00:01', 7, 1012), undefined, 'k7');
    log.record(event('02:00:00:00:00:01', 8, 1013), undefined, 'k8');
    log.record(event('02:00:00:00:00:01', 8, 1014)); // no key: never merged
    expect(log.pending).toBe(3);
    void log.flush();
    expect(w.batches).toHaveLength(1);
    const [first, second, third] = w.batches[0]!.events;
    expect(first).toMatchObject({ at: 1000, detail: { xid: 7, count: 3, lastAt: 1012 } });
    expect(second!.detail).toEqual({ xid: 8 });
    expect(third!.detail).toEqual({ xid: 8 });
    expect(w.batches[0]!.seen.get('02:00:00:00:00:01')).toEqual({ first: 1000, at: 1014, facts: undefined });
  });

  it('a key is only merged within the batch that is waiting: after a flush it starts a new event', () => {
    const w = slowWriter();
    const log = createEventLog({ writer: w.writer, intervalMs: 60_000 });
    log.record(event('02:00:00:00:00:01', 7, 1000), undefined, 'k7');
    void log.flush();
    log.record(event('02:00:00:00:00:01', 7, 5000), undefined, 'k7');
    void log.flush();
    expect(w.batches.map((b) => b.events.length)).toEqual([1, 1]);
    expect(w.batches[1]!.events[0]).toMatchObject({ at: 5000, detail: { xid: 7 } });
    expect(w.batches[1]!.events[0]!.detail!.count).toBeUndefined();
  });
});

describe('boot event log: a writer that falls behind', () => {
  it('drops new events past maxQueued, counts them, reports once, and resumes when half the backlog is written', async () => {
    const w = slowWriter();
    const errors: unknown[] = [];
    const log = createEventLog({ writer: w.writer, intervalMs: 60_000, maxBatch: 10, maxQueued: 40, onError: (e) => errors.push(e) });
    for (let i = 0; i < 60; i++) log.record(event(`02:00:00:00:00:${String(i % 100).padStart(2, '0')}`, i, 1000 + i));
    // 40 handed over (4 batches of 10), 20 dropped: memory stays bounded while nothing is written.
    expect(w.batches.map((b) => b.events.length)).toEqual([10, 10, 10, 10]);
    expect(log.dropped).toBe(20);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/40 events wait for the writer; dropping new ones until it catches up/);

    // Coalescing costs no memory, so it still works while dropping.
    log.record(event('02:00:00:00:00:99', 99, 2000), undefined, 'k'); // dropped: no waiting event has this key
    expect(log.dropped).toBe(21);

    w.release();
    await log.flush();
    log.record(event('02:00:00:00:00:01', 100, 3000));
    expect(log.pending).toBe(1);
    expect(log.dropped).toBe(21);
    expect(errors).toHaveLength(1);
  });

  it('an in-thread writer never counts as behind', () => {
    const written: NewBootEvent[] = [];
    const log = createEventLog({ writer: { write: (e) => void written.push(...e) }, intervalMs: 60_000, maxBatch: 10, maxQueued: 15 });
    for (let i = 0; i < 100; i++) log.record(event('02:00:00:00:00:01', i, i));
    expect(written).toHaveLength(100);
    expect(log.dropped).toBe(0);
  });
});

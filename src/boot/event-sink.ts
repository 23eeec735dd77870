/**
 * Where encoded boot event batches (event-codec.ts) become rows: one
 * transaction for every batch handed in together, the hosts' last-seen times
 * with them. The event writer thread runs this on its own connection; it is
 * a module of its own so that tests drive it in-thread on a real database.
 *
 * Last-seen updates go only to MACs in the host table. Under a DISCOVER storm
 * of new machines nearly every MAC is unknown, and an UPDATE … WHERE mac = ?
 * that finds nothing still costs a statement and an index seek per MAC. The
 * set of host MACs follows inserts the way dhcp/host-cache.ts does (hosts.id
 * is AUTOINCREMENT, so new rows are those above the largest id seen), read
 * inside the write transaction, so a host inserted by anyone before it
 * commits is updated.
 *
 * An event with a coalescing key (events.ts) whose key was written within
 * `coalesceMs` (64 s by default: PXE firmware retransmits a DISCOVER after 4,
 * 8, 16 and 32 s) is not a new row: the earlier row's detail.count and
 * detail.lastAt are raised instead. The keys of recent rows are kept in
 * memory, the last `coalesceKeys` of them: a storm of new machines costs one
 * Map entry per row, a storm of retransmissions one UPDATE per repeat instead
 * of an INSERT with its two index entries. After a failed write they are
 * forgotten (the rows they name were rolled back).
 */
import type { Database } from 'better-sqlite3';
import { forEachRow, mergeSeen, type EncodedBatch, type EventRow, type SeenRow } from './event-codec.js';

export interface EventSink {
  /**
   * Writes the batches in one transaction; throws (writing nothing) when it
   * fails. Batches are taken from the iterable one at a time, so a caller may
   * decode each only when its turn comes.
   */
  write(batches: Iterable<EncodedBatch>): void;
}

export interface EventSinkOptions {
  coalesceMs?: number;
  coalesceKeys?: number;
}


export function createEventSink(sqlite: Database, opts: EventSinkOptions = {}): EventSink {
  const coalesceMs = opts.coalesceMs ?? 64_000;
  const coalesceKeys = opts.coalesceKeys ?? 100_000;
  const insert = sqlite.prepare('INSERT INTO boot_events (at, mac, client_ip, kind, request, result, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const markSeen = sqlite.prepare('UPDATE hosts SET last_seen = ?, first_seen = coalesce(first_seen, ?), facts = coalesce(?, facts) WHERE mac = ?');
  const newHosts = sqlite.prepare('SELECT id, mac FROM hosts WHERE id > ? ORDER BY id').raw();
  const maxHostId = sqlite.prepare('SELECT max(id) FROM hosts').pluck();
  const hostMacs = new Set<string>();
  let hostMaxId = 0;

  function catchUpHosts(): void {
    const m = (maxHostId.get() as number | null) ?? 0;
    if (m === hostMaxId) return;
    for (const [id, mac] of newHosts.iterate(hostMaxId) as IterableIterator<[number, string]>) {
      hostMacs.add(mac);
      hostMaxId = id;
    }
    if (hostMaxId < m) hostMaxId = m;
  }

  const bump = sqlite.prepare("UPDATE boot_events SET detail = json_set(coalesce(detail, '{}'), '$.count', ?, '$.lastAt', ?) WHERE id = ?");
  /*
   * Rows written with a coalescing key: key → slot of a ring, the slot's row
   * id, first time and count in typed arrays. A new key takes the next slot,
   * pushing out the key written `coalesceKeys` rows earlier, so under a storm
   * of distinct keys (new machines) nothing but the Map entry is allocated per
   * row and nothing outlives the ring. An expired key stays until its slot is
   * taken; it no longer merges.
   */
  let slotOf = new Map<string, number>();
  const slotKey: (string | undefined)[] = new Array<string | undefined>(coalesceKeys);
  const slotId = new Float64Array(coalesceKeys);
  const slotAt = new Float64Array(coalesceKeys);
  const slotCount = new Float64Array(coalesceKeys);
  let nextSlot = 0;

  const isHost = (mac: string) => hostMacs.has(mac);
  const row = (r: EventRow) => {
    if (r.key === null) {
      insert.run(r.at, r.mac, r.clientIp, r.kind, r.request, r.result, r.status, r.detail);
      return;
    }
    const had = slotOf.get(r.key);
    if (had !== undefined && r.at - slotAt[had]! <= coalesceMs) {
      const count = slotCount[had]! + r.count;
      slotCount[had] = count;
      bump.run(count, r.lastAt, slotId[had]);
      return;
    }
    const id = Number(insert.run(r.at, r.mac, r.clientIp, r.kind, r.request, r.result, r.status, r.detail).lastInsertRowid);
    if (had !== undefined) slotKey[had] = undefined;
    const slot = nextSlot;
    nextSlot = (nextSlot + 1) % coalesceKeys;
    const old = slotKey[slot];
    if (old !== undefined) slotOf.delete(old);
    // The key is a slice of the whole batch's text (String.prototype.split),
    // and kept as it is it would keep that text alive: 100k keys held most of
    // a storm's batches (tens of MB, each scavenge of the writer copying them).
    // A copy of its own goes into the ring (through UTF-8: exact for any text
    // but lone surrogates).
    const key = Buffer.from(r.key, 'utf8').toString('utf8');
    slotKey[slot] = key;
    slotOf.set(key, slot);
    slotId[slot] = id;
    slotAt[slot] = r.at;
    slotCount[slot] = r.count;
  };

  const tx = sqlite.transaction((batches: Iterable<EncodedBatch>) => {
    catchUpHosts();
    const seen = new Map<string, SeenRow>();
    for (const b of batches) {
      forEachRow(b, row);
      mergeSeen(b, seen, isHost);
    }
    for (const [mac, v] of seen) markSeen.run(v.at, v.first, v.facts, mac);
  });

  return {
    write(batches) {
      try {
        tx.immediate(batches);
      } catch (err) {
        slotOf = new Map();
        slotKey.fill(undefined);
        throw err;
      }
    },
  };
}

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
 */
import type { Database } from 'better-sqlite3';
import { forEachRow, mergeSeen, type EncodedBatch, type SeenRow } from './event-codec.js';

export interface EventSink {
  /**
   * Writes the batches in one transaction; throws (writing nothing) when it
   * fails. Batches are taken from the iterable one at a time, so a caller may
   * decode each only when its turn comes.
   */
  write(batches: Iterable<EncodedBatch>): void;
}

export function createEventSink(sqlite: Database): EventSink {
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

  const isHost = (mac: string) => hostMacs.has(mac);
  const row = (at: number, mac: string | null, clientIp: string | null, kind: string, request: string, result: string, status: number, detail: string | null) => {
    insert.run(at, mac, clientIp, kind, request, result, status, detail);
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
      tx.immediate(batches);
    },
  };
}

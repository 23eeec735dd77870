/**
 * The proxyDHCP host lookup without a SQLite statement for MACs the host
 * table does not hold. Every PXE packet asks for its MAC's dhcpMode; under a
 * DISCOVER storm of new machines nearly all of them are unknown, and each
 * asked SQLite (a statement of a few µs, more while the event writer's WAL
 * grows) only to hear "no such host".
 *
 * The cache is the set of MACs in the host table, not a copy of their rows:
 * - a MAC not in the set is unknown, answered from memory;
 * - a MAC in the set is looked up in the store as before (always current:
 *   an edit of its dhcpMode, by this process or another, applies at once).
 *
 * The set only has to follow inserts, and hosts.id is AUTOINCREMENT: a new
 * row always has an id above every earlier one, whoever inserted it (this
 * connection, the CLI, another process). So one cheap statement, max(id),
 * says whether there are new rows, and only those are read. A host's MAC
 * never changes (updateHost cannot change it); a deleted host stays in the
 * set, which only costs it the store lookup that says it is gone.
 *
 * max(id) is read at the first lookup of an event-loop turn, not per packet
 * (the packets of one turn were read from the socket together; a host
 * inserted during that turn counts from the next one, as if it had been
 * inserted a few microseconds later).
 */
import type { Database } from 'better-sqlite3';
import type { HostMode } from './firmware.js';

export type HostLookup = (mac: string) => { dhcpMode: HostMode } | undefined;

export interface CachedHostLookup extends HostLookup {
  /** Lookups answered from memory (unknown MACs), and those that asked the store. */
  readonly stats: { unknown: number; asked: number; hosts: number };
}

export function createHostLookupCache(sqlite: Database, lookup: HostLookup): CachedHostLookup {
  const maxIdStmt = sqlite.prepare('SELECT max(id) FROM hosts').pluck();
  const newRows = sqlite.prepare('SELECT id, mac FROM hosts WHERE id > ? ORDER BY id').raw();
  const macs = new Set<string>();
  let maxId = 0;
  let checked = false;
  const stats = { unknown: 0, asked: 0, hosts: 0 };
  const uncheck = () => {
    checked = false;
  };

  function catchUp(): void {
    checked = true;
    setImmediate(uncheck);
    const m = (maxIdStmt.get() as number | null) ?? 0;
    if (m === maxId) return;
    for (const [id, mac] of newRows.iterate(maxId) as IterableIterator<[number, string]>) {
      macs.add(mac);
      maxId = id;
    }
    // Rows above the old max were all deleted again meanwhile: nothing to add, remember where we are.
    if (maxId < m) maxId = m;
    stats.hosts = macs.size;
  }

  const cached = ((mac: string) => {
    if (!checked) catchUp();
    if (!macs.has(mac)) {
      stats.unknown++;
      return undefined;
    }
    stats.asked++;
    return lookup(mac);
  }) as CachedHostLookup;
  Object.defineProperty(cached, 'stats', { get: () => stats });
  return cached;
}

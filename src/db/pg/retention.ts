/**
 * Boot event retention over PostgreSQL: the SQLite retention's behaviour
 * (src/db/retention.ts) and result, with the DELETEs sent to the server.
 * Events older than N days, and all but the newest M, are deleted in LIMITed
 * batches (each its own statement, so its own short transaction), with a
 * pause between batches and `stopped()` checked before each one.
 *
 * By count: ids come from one identity sequence shared by every node, so "the
 * newest M" is "id > max(id) − M", found through the primary key instead of
 * counting the table. Ids a rolled-back batch took are gaps below max(id): then
 * fewer than M are kept, never more (as on SQLite).
 *
 * Two nodes may run passes at the same time: each batch skips the rows the
 * other is deleting (FOR UPDATE SKIP LOCKED), and the counts each reports are
 * the rows it deleted itself.
 */
import type { PgDb } from './client.js';
import { retentionPasses, type RetentionOptions } from '../retention.js';

// Both walk an index from its old end, LIMITed: each batch costs the same however big the table.
// SKIP LOCKED: two nodes' passes at once take different rows instead of waiting for (or deadlocking with) each other.
const DELETE_OLDER = 'delete from boot_events where id in (select id from boot_events where at < $1 order by at limit $2 for update skip locked)';
const DELETE_UP_TO = 'delete from boot_events where id in (select id from boot_events where id <= $1 order by id limit $2 for update skip locked)';
const MAX_ID = 'select max(id)::text as top from boot_events';

export function createPgRetention(db: PgDb, opts: RetentionOptions = {}) {
  const pool = db.$client;
  const deleted = async (text: string, arg: number, limit: number) => (await pool.query(text, [arg, limit])).rowCount ?? 0;
  return retentionPasses(
    {
      deleteOlder: (cutoff, limit) => deleted(DELETE_OLDER, cutoff, limit),
      deleteUpTo: (id, limit) => deleted(DELETE_UP_TO, id, limit),
      async maxId() {
        const { rows } = await pool.query<{ top: string | null }>(MAX_ID);
        return rows[0]?.top == null ? null : Number(rows[0].top);
      },
    },
    opts,
  );
}

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
import type { RetentionOptions, RetentionPolicy, RetentionResult } from '../retention.js';

const DAY_MS = 86_400_000;

// Both walk an index from its old end, LIMITed: each batch costs the same however big the table.
// SKIP LOCKED: two nodes' passes at once take different rows instead of waiting for (or deadlocking with) each other.
const DELETE_OLDER = 'delete from boot_events where id in (select id from boot_events where at < $1 order by at limit $2 for update skip locked)';
const DELETE_UP_TO = 'delete from boot_events where id in (select id from boot_events where id <= $1 order by id limit $2 for update skip locked)';
const MAX_ID = 'select max(id)::text as top from boot_events';

export function createPgRetention(db: PgDb, opts: RetentionOptions = {}) {
  const pool = db.$client;
  const batchSize = opts.batchSize ?? 2000;
  const now = opts.now ?? Date.now;
  const pause = opts.pause ?? (() => new Promise<void>((r) => setImmediate(r)));
  let running: Promise<RetentionResult> | null = null;

  async function pass(policy: RetentionPolicy): Promise<RetentionResult> {
    const t0 = performance.now();
    const r: RetentionResult = { byAge: 0, byCount: 0, batches: 0, ms: 0, maxBatchMs: 0 };
    let last = 0;
    const batch = async (text: string, arg: number): Promise<number> => {
      const b0 = performance.now();
      const res = await pool.query(text, [arg, batchSize]);
      r.batches++;
      last = performance.now() - b0;
      r.maxBatchMs = Math.max(r.maxBatchMs, last);
      return res.rowCount ?? 0;
    };
    if (policy.maxAgeDays > 0) {
      // Fixed at the start of the pass: events arriving during it are never old enough.
      const cutoff = now() - policy.maxAgeDays * DAY_MS;
      while (!opts.stopped?.()) {
        const n = await batch(DELETE_OLDER, cutoff);
        r.byAge += n;
        if (n < batchSize) break;
        await pause(last);
      }
    }
    if (policy.maxCount > 0 && !opts.stopped?.()) {
      const { rows } = await pool.query<{ top: string | null }>(MAX_ID);
      const top = rows[0]?.top == null ? null : Number(rows[0].top);
      if (top !== null && top > policy.maxCount) {
        const upTo = top - policy.maxCount;
        while (!opts.stopped?.()) {
          const n = await batch(DELETE_UP_TO, upTo);
          r.byCount += n;
          if (n < batchSize) break;
          await pause(last);
        }
      }
    }
    r.ms = performance.now() - t0;
    return r;
  }

  return {
    /** Resolves when no pass runs (shutdown waits for it before closing the pool). */
    idle(): Promise<void> {
      return running ? running.then(
        () => undefined,
        () => undefined,
      ) : Promise.resolve();
    },
    /** One pass; a pass asked for while one runs joins it. */
    run(policy: RetentionPolicy): Promise<RetentionResult> {
      running ??= pass(policy).finally(() => {
        running = null;
      });
      return running;
    },
  };
}

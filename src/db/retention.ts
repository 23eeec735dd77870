/**
 * Retention for the boot event log: events older than N days, and all but the
 * newest M, are deleted, in small batches with the event loop free between
 * them, so a first pass over a million old rows never holds up a boot script
 * for more than one batch.
 *
 * By count: event ids are AUTOINCREMENT (never reused) and only ever deleted
 * from the old end, so "the newest M" is "id > max(id) − M", found through the
 * primary key instead of counting a million rows; should a gap exist below
 * max(id), fewer than M are kept, never more.
 */
import type { Db } from './client.js';

export interface RetentionPolicy {
  /** Delete events older than this many days; 0 = none by age. */
  maxAgeDays: number;
  /** Keep at most this many (the newest); 0 = no limit. */
  maxCount: number;
}

export interface RetentionResult {
  byAge: number;
  byCount: number;
  batches: number;
  /** Wall time of the pass, pauses between batches included. */
  ms: number;
  /** The longest batch: the longest the event loop was held. */
  maxBatchMs: number;
}

export interface RetentionOptions {
  /** Rows per DELETE (default 2000). */
  batchSize?: number;
  now?: () => number;
  /** Between batches (default: setImmediate, so pending I/O and requests run first). */
  pause?: () => Promise<void>;
  /** Checked between batches: a pass stops early when it turns true (shutdown). */
  stopped?: () => boolean;
}

const DAY_MS = 86_400_000;

export function createRetention(db: Db, opts: RetentionOptions = {}) {
  const sqlite = db.$client;
  const batchSize = opts.batchSize ?? 2000;
  const now = opts.now ?? Date.now;
  const pause = opts.pause ?? (() => new Promise<void>((r) => setImmediate(r)));
  // Both walk an index from its old end, LIMITed: each batch costs the same however big the table.
  const deleteOlder = sqlite.prepare('DELETE FROM boot_events WHERE id IN (SELECT id FROM boot_events WHERE at < ? ORDER BY at LIMIT ?)');
  const deleteUpTo = sqlite.prepare('DELETE FROM boot_events WHERE id IN (SELECT id FROM boot_events WHERE id <= ? ORDER BY id LIMIT ?)');
  const maxId = sqlite.prepare('SELECT max(id) FROM boot_events').pluck();
  let running: Promise<RetentionResult> | null = null;

  async function pass(policy: RetentionPolicy): Promise<RetentionResult> {
    const t0 = performance.now();
    const r: RetentionResult = { byAge: 0, byCount: 0, batches: 0, ms: 0, maxBatchMs: 0 };
    const batch = (stmt: typeof deleteOlder, arg: number): number => {
      const b0 = performance.now();
      const n = stmt.run(arg, batchSize).changes;
      r.batches++;
      r.maxBatchMs = Math.max(r.maxBatchMs, performance.now() - b0);
      return n;
    };
    if (policy.maxAgeDays > 0) {
      // Fixed at the start of the pass: events arriving during it are never old enough.
      const cutoff = now() - policy.maxAgeDays * DAY_MS;
      while (!opts.stopped?.()) {
        const n = batch(deleteOlder, cutoff);
        r.byAge += n;
        if (n < batchSize) break;
        await pause();
      }
    }
    if (policy.maxCount > 0) {
      const top = maxId.get() as number | null;
      if (top !== null && top > policy.maxCount) {
        const upTo = top - policy.maxCount;
        while (!opts.stopped?.()) {
          const n = batch(deleteUpTo, upTo);
          r.byCount += n;
          if (n < batchSize) break;
          await pause();
        }
      }
    }
    r.ms = performance.now() - t0;
    return r;
  }

  return {
    /** Resolves when no pass runs (shutdown waits for it before closing the database). */
    idle(): Promise<void> {
      return running ? running.then(() => undefined, () => undefined) : Promise.resolve();
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

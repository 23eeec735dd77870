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
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
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
  /** Between batches, given the last batch's duration (default: setImmediate, so pending I/O and requests run first). */
  pause?: (lastBatchMs: number) => Promise<void>;
  /** Checked between batches: a pass stops early when it turns true (shutdown). */
  stopped?: () => boolean;
}

const DAY_MS = 86_400_000;

/** The statements a retention pass runs, on whichever database: each deletes at most `limit` rows and returns how many it deleted. */
export interface RetentionOps {
  /** Events older than `cutoff` (ms), oldest first. */
  deleteOlder(cutoff: number, limit: number): number | Promise<number>;
  /** Events with an id up to `id`, lowest first. */
  deleteUpTo(id: number, limit: number): number | Promise<number>;
  /** The newest event id, or null for none. */
  maxId(): number | null | Promise<number | null>;
}

/** Passes over `ops`, one at a time, in batches with a pause between them (SQLite: createRetention; PostgreSQL: createPgRetention). */
export function retentionPasses(ops: RetentionOps, opts: RetentionOptions = {}) {
  const batchSize = opts.batchSize ?? 2000;
  const now = opts.now ?? Date.now;
  const pause = opts.pause ?? (() => new Promise<void>((r) => setImmediate(r)));
  let running: Promise<RetentionResult> | null = null;

  async function pass(policy: RetentionPolicy): Promise<RetentionResult> {
    const t0 = performance.now();
    const r: RetentionResult = { byAge: 0, byCount: 0, batches: 0, ms: 0, maxBatchMs: 0 };
    let last = 0;
    const batch = async (op: (arg: number, limit: number) => number | Promise<number>, arg: number): Promise<number> => {
      const b0 = performance.now();
      const n = await op(arg, batchSize);
      r.batches++;
      last = performance.now() - b0;
      r.maxBatchMs = Math.max(r.maxBatchMs, last);
      return n;
    };
    if (policy.maxAgeDays > 0) {
      // Fixed at the start of the pass: events arriving during it are never old enough.
      const cutoff = now() - policy.maxAgeDays * DAY_MS;
      while (!opts.stopped?.()) {
        const n = await batch(ops.deleteOlder, cutoff);
        r.byAge += n;
        if (n < batchSize) break;
        await pause(last);
      }
    }
    if (policy.maxCount > 0 && !opts.stopped?.()) {
      const top = await ops.maxId();
      if (top !== null && top > policy.maxCount) {
        const upTo = top - policy.maxCount;
        while (!opts.stopped?.()) {
          const n = await batch(ops.deleteUpTo, upTo);
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

export function createRetention(db: Db, opts: RetentionOptions = {}) {
  const sqlite = db.$client;
  // Both walk an index from its old end, LIMITed: each batch costs the same however big the table.
  const deleteOlder = sqlite.prepare('DELETE FROM boot_events WHERE id IN (SELECT id FROM boot_events WHERE at < ? ORDER BY at LIMIT ?)');
  const deleteUpTo = sqlite.prepare('DELETE FROM boot_events WHERE id IN (SELECT id FROM boot_events WHERE id <= ? ORDER BY id LIMIT ?)');
  const maxId = sqlite.prepare('SELECT max(id) FROM boot_events').pluck();
  return retentionPasses(
    {
      deleteOlder: (cutoff, limit) => deleteOlder.run(cutoff, limit).changes,
      deleteUpTo: (id, limit) => deleteUpTo.run(id, limit).changes,
      maxId: () => maxId.get() as number | null,
    },
    opts,
  );
}

// ---- in a worker thread (serve) ------------------------------------------

/**
 * Like the event writer, the worker loads this module's own file, which from
 * TypeScript sources (tsx, vitest) is .ts: then serve runs passes in-thread.
 */
export const retentionWorkerAvailable = import.meta.url.endsWith('.js');

export interface RetentionRunner {
  run(policy: RetentionPolicy): Promise<RetentionResult>;
  /** Stops after the batch running now and closes the worker's connection. */
  close(): Promise<void>;
}

/**
 * Retention in a worker thread with its own connection: the DELETEs, and the
 * WAL checkpoints their commits trigger (the 50–120 ms outliers when measured
 * in-thread), never run on the event loop that renders boot scripts. Between
 * batches the worker rests at least as long as the batch took, so the event
 * writer and the main thread's writes find the write lock free at least half
 * the time.
 */
export function startRetentionWorker(dbFile: string, opts: { batchSize?: number } = {}): RetentionRunner {
  const worker = new Worker(new URL(import.meta.url), { workerData: { retentionDbFile: dbFile, batchSize: opts.batchSize ?? 500 } });
  worker.unref();
  let nextId = 1;
  const waiting = new Map<number, { ok: (r: RetentionResult) => void; fail: (e: Error) => void }>();
  let closed: Promise<void> | null = null;
  let dead: Error | null = null;
  const failAll = (err: Error) => {
    dead = err;
    for (const w of waiting.values()) w.fail(err);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; result?: RetentionResult; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.fail(new Error(m.error));
    else w?.ok(m.result!);
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`retention worker exited with code ${code}`)));
  const call = (msg: Record<string, unknown>) =>
    new Promise<RetentionResult>((ok, fail) => {
      if (dead) return fail(dead);
      const id = nextId++;
      waiting.set(id, { ok, fail });
      worker.postMessage({ id, ...msg });
    });
  return {
    run: (policy) => call({ policy }),
    close() {
      closed ??= call({ close: true }).then(
        () => worker.terminate().then(() => undefined),
        () => undefined,
      );
      return closed;
    },
  };
}

if (!isMainThread && parentPort && (workerData as { retentionDbFile?: string })?.retentionDbFile) {
  const port = parentPort;
  const { retentionDbFile, batchSize } = workerData as { retentionDbFile: string; batchSize: number };
  const { openDb } = await import('./client.js');
  const db = openDb(retentionDbFile, { migrate: false });
  let stopping = false;
  const retention = createRetention(db, {
    batchSize,
    stopped: () => stopping,
    pause: (lastMs) => new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(lastMs)))),
  });
  port.on('message', (m: { id: number; policy?: RetentionPolicy; close?: boolean }) => {
    if (m.close) {
      stopping = true;
      void retention.idle().then(() => {
        db.$client.close();
        port.postMessage({ id: m.id, result: { byAge: 0, byCount: 0, batches: 0, ms: 0, maxBatchMs: 0 } });
      });
      return;
    }
    retention.run(m.policy!).then(
      (result) => {
        // serve's main connection leaves checkpoints to the other connections
        // (see main.ts): after each pass (every sweep) this one copies the WAL back.
        try {
          db.$client.pragma('wal_checkpoint(PASSIVE)');
        } catch {
          // busy: the next pass tries again
        }
        port.postMessage({ id: m.id, result });
      },
      (err: Error) => port.postMessage({ id: m.id, error: err.message }),
    );
  });
}

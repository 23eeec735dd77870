/**
 * A worker thread that owns a second SQLite connection and writes boot event
 * batches. The main thread only encodes each batch into one string
 * (event-codec.ts) and posts it, so a slow commit or a WAL checkpoint (tens
 * of ms) never delays a boot script, and the hand-over costs a memcpy rather
 * than a structured clone of every event object.
 *
 * Commits are spaced: a batch posted by the event log's timer or size limit
 * waits until `commitIntervalMs` after the previous commit, and everything
 * that arrived meanwhile is written in that one transaction. Under a DISCOVER
 * storm that is thousands of rows per commit instead of one commit per 128:
 * boot_events_mac_at_idx takes new MACs at random places, so each commit
 * rewrites (into the WAL, then at checkpoint into the database) every index
 * page that got a row; with more rows per commit, more of them share a page.
 * An explicit flush (shutdown, the CLI, tests) is written at once.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { setPriority } from 'node:os';
import type { EventWriter } from './events.js';
import { BufferPool, encodeBatch, packBatch, unpackBatch, type EncodedBatch, type PackedBatch } from './event-codec.js';

interface Batch extends PackedBatch {
  id: number;
  /** Write without waiting for the commit interval. */
  urgent: boolean;
}

interface WorkerOptions {
  dbFile: string;
  commitIntervalMs: number;
  /** Niceness for the writer thread (Linux: per thread), so DHCP and HTTP on the main thread win a shared core. */
  nice: number;
}

/** Acks: ids written, and ids that failed with their message; the batches' buffers come back with them. */
interface Ack {
  ok?: number[];
  failed?: [number, string][];
  buffers?: ArrayBuffer[];
}

export interface EventWriterOptions {
  /** Least time between two commits when batches keep coming (default 250 ms). */
  commitIntervalMs?: number;
  /** The writer thread's niceness, 0–19 (default 5): a small yield to the event loop on a busy core. */
  nice?: number;
  /**
   * The writer thread's young generation, MB (default 32). Every row it
   * binds is a handful of short-lived strings; with V8's small default for
   * workers, scavenges took a sixth of the writer's time in a storm.
   */
  youngGenerationMb?: number;
  /** The worker's entry module (default: this file); tests start it from the TypeScript sources through a loader. */
  workerEntry?: URL;
}

/**
 * A worker thread loads this module's own file; run from TypeScript sources
 * (tsx, vitest) that file is .ts, which a plain worker cannot load. The caller
 * then writes events in-thread instead of losing them.
 */
export const eventWorkerAvailable = import.meta.url.endsWith('.js');

export function startEventWriter(dbFile: string, onError: (err: unknown) => void, opts: EventWriterOptions = {}): EventWriter {
  const data: WorkerOptions = { dbFile, commitIntervalMs: opts.commitIntervalMs ?? 250, nice: opts.nice ?? 5 };
  const worker = new Worker(opts.workerEntry ?? new URL(import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: opts.youngGenerationMb ?? 32 } });
  worker.unref();
  let nextId = 1;
  const pool = new BufferPool();
  const waiting = new Map<number, { ok: () => void; fail: (e: Error) => void }>();
  let dead: Error | null = null;
  const failAll = (err: Error) => {
    dead = err;
    for (const w of waiting.values()) w.fail(err);
    waiting.clear();
  };
  worker.on('message', (m: Ack) => {
    if (m.buffers) for (const b of m.buffers) pool.give(b);
    if (m.ok) {
      for (const id of m.ok) {
        const w = waiting.get(id);
        waiting.delete(id);
        w?.ok();
      }
    }
    if (m.failed) {
      for (const [id, error] of m.failed) {
        const w = waiting.get(id);
        waiting.delete(id);
        w?.fail(new Error(error));
      }
    }
  });
  worker.on('error', (err) => {
    onError(err);
    failAll(err);
  });
  worker.on('exit', (code) => {
    if (code !== 0) failAll(new Error(`event writer exited with code ${code}`));
  });
  return {
    write(events, seen, urgent = true, keys) {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      const batch: Batch = { id, urgent, ...packBatch(encodeBatch(events, seen, keys), pool) };
      return new Promise<void>((ok, fail) => {
        waiting.set(id, { ok, fail });
        worker.postMessage(batch, [batch.buf]);
      });
    },
    async close() {
      if (dead) return;
      await worker.terminate();
    },
  };
}

if (!isMainThread && parentPort && (workerData as Partial<WorkerOptions>)?.dbFile) {
  const port = parentPort;
  const opts = workerData as WorkerOptions;
  try {
    // 0 = this thread only (Linux setpriority semantics): the main thread keeps its priority.
    if (opts.nice > 0) setPriority(0, Math.min(19, opts.nice));
  } catch {
    // Not allowed here (or not Linux): write at normal priority.
  }
  const { openDb } = await import('../db/client.js');
  const { createEventSink } = await import('./event-sink.js');
  const db = openDb(opts.dbFile, { migrate: false });
  const sink = createEventSink(db.$client);
  /**
   * Batches waiting for their commit, still packed: decoded only when written,
   * so the strings live for one transaction and never outlast a scavenge (a
   * queue of decoded batches held for the commit interval was copied from one
   * young generation semispace to the other and promoted: a fifth of the
   * writer's time went to the garbage collector).
   */
  let queue: Batch[] = [];
  let timer: NodeJS.Timeout | null = null;
  let immediate = false;
  let lastCommit = 0;

  function* unpacked(batches: Batch[]): Generator<EncodedBatch> {
    for (const b of batches) yield unpackBatch(b);
  }
  const writeOne = (b: Batch, ack: Ack) => {
    try {
      sink.write([unpackBatch(b)]);
      (ack.ok ??= []).push(b.id);
    } catch (err) {
      (ack.failed ??= []).push([b.id, (err as Error).message]);
    }
  };
  const drain = () => {
    immediate = false;
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const batches = queue;
    queue = [];
    if (batches.length === 0) return;
    lastCommit = Date.now();
    const ack: Ack = {};
    if (batches.length === 1) writeOne(batches[0]!, ack);
    else {
      try {
        sink.write(unpacked(batches));
        ack.ok = batches.map((b) => b.id);
      } catch {
        // The group failed as a whole (one transaction): write the batches one by one, so only a bad one is lost.
        for (const b of batches) writeOne(b, ack);
      }
    }
    ack.buffers = batches.map((b) => b.buf);
    port.postMessage(ack, ack.buffers);
  };
  port.on('message', (b: Batch) => {
    queue.push(b);
    if (immediate) return;
    const due = lastCommit + opts.commitIntervalMs - Date.now();
    if (b.urgent || due <= 0) {
      // Batches that arrive together (this one and any already in the port) go in one transaction.
      immediate = true;
      setImmediate(drain);
    } else if (!timer) timer = setTimeout(drain, due);
  });
}

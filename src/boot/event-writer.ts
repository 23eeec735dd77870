/**
 * A worker thread that owns a second SQLite connection and writes boot event
 * batches. The main thread only posts messages, so a slow commit or a WAL
 * checkpoint (tens of ms) never delays a boot script.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { EventWriter } from './events.js';
import type { NewBootEvent } from '../db/schema.js';
import type { SeenHost } from '../db/store.js';

interface Batch {
  id: number;
  events: NewBootEvent[];
  /** Structured clone copies a Map as it is: no entries array to build first. */
  seen: Map<string, SeenHost>;
}

/**
 * A worker thread loads this module's own file; run from TypeScript sources
 * (tsx, vitest) that file is .ts, which a plain worker cannot load. The caller
 * then writes events in-thread instead of losing them.
 */
export const eventWorkerAvailable = import.meta.url.endsWith('.js');

export function startEventWriter(dbFile: string, onError: (err: unknown) => void): EventWriter {
  const worker = new Worker(new URL(import.meta.url), { workerData: { dbFile } });
  worker.unref();
  let nextId = 1;
  const waiting = new Map<number, { ok: () => void; fail: (e: Error) => void }>();
  let dead: Error | null = null;
  const failAll = (err: Error) => {
    dead = err;
    for (const w of waiting.values()) w.fail(err);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error) w?.fail(new Error(m.error));
    else w?.ok();
  });
  worker.on('error', (err) => {
    onError(err);
    failAll(err);
  });
  worker.on('exit', (code) => {
    if (code !== 0) failAll(new Error(`event writer exited with code ${code}`));
  });
  return {
    write(events, seen) {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      return new Promise<void>((ok, fail) => {
        waiting.set(id, { ok, fail });
        worker.postMessage({ id, events, seen } satisfies Batch);
      });
    },
    async close() {
      if (dead) return;
      await worker.terminate();
    },
  };
}

if (!isMainThread && parentPort && (workerData as { dbFile?: string })?.dbFile) {
  const port = parentPort;
  const { openDb } = await import('../db/client.js');
  const { createStore } = await import('../db/store.js');
  const db = openDb((workerData as { dbFile: string }).dbFile, { migrate: false });
  const store = createStore(db);
  // Batches that arrive while one is being written are written together:
  // under a DISCOVER storm that is one transaction (one commit, one set of
  // WAL frames for the pages they share) for several batches, not one each.
  let queue: Batch[] = [];
  let scheduled = false;
  const writeOne = (b: Batch) => {
    try {
      store.writeEventBatch(b.events, b.seen);
      port.postMessage({ id: b.id });
    } catch (err) {
      port.postMessage({ id: b.id, error: (err as Error).message });
    }
  };
  const drain = () => {
    scheduled = false;
    const batches = queue;
    queue = [];
    if (batches.length === 1) return writeOne(batches[0]!);
    try {
      store.writeEventBatch(...merge(batches));
      for (const b of batches) port.postMessage({ id: b.id });
    } catch {
      // The group failed as a whole (one transaction): write the batches one by one, so only a bad one is lost.
      for (const b of batches) writeOne(b);
    }
  };
  port.on('message', (b: Batch) => {
    queue.push(b);
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  });
}

/**
 * Several batches as one: events in order; per host its first time, its
 * latest time and its latest reported facts (what writing them one after
 * the other would leave in the hosts table).
 */
function merge(batches: Batch[]): [NewBootEvent[], Map<string, SeenHost>] {
  const events: NewBootEvent[] = [];
  const seen = new Map<string, SeenHost>();
  for (const b of batches) {
    for (const e of b.events) events.push(e);
    for (const [mac, v] of b.seen) {
      const had = seen.get(mac);
      if (!had) seen.set(mac, { ...v }); // a copy: the batch itself stays as it came, should it be written alone
      else {
        had.at = v.at;
        if (v.facts && Object.keys(v.facts).length) had.facts = v.facts;
      }
    }
  }
  return [events, seen];
}

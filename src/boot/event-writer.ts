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
  seen: [string, SeenHost][];
}

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
        worker.postMessage({ id, events, seen: [...seen] } satisfies Batch);
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
  const store = createStore(openDb((workerData as { dbFile: string }).dbFile, { migrate: false }));
  port.on('message', (b: Batch) => {
    try {
      store.writeEventBatch(b.events, new Map(b.seen));
      port.postMessage({ id: b.id });
    } catch (err) {
      port.postMessage({ id: b.id, error: (err as Error).message });
    }
  });
}

/**
 * Boot event log, written in batches: a request pushes its event into memory
 * and returns; a timer hands the batch to a writer, which stores it in one
 * transaction (with the hosts' last-seen times). Rendering a boot script never
 * waits on a disk write. In `serve` the writer is a worker thread with its own
 * SQLite connection (event-writer.ts), so commits and WAL checkpoints never
 * stall the event loop; tests and the CLI write in-thread.
 */
import type { NewBootEvent } from '../db/schema.js';
import type { SeenHost, Store } from '../db/store.js';

export interface EventWriter {
  write(events: NewBootEvent[], seen: Map<string, SeenHost>): void | Promise<void>;
  close?(): Promise<void>;
}

export interface EventLogOptions {
  /** Where batches go; a store writes them in-thread. */
  store?: Pick<Store, 'writeEventBatch'>;
  writer?: EventWriter;
  /** Flush after this many ms at the latest. */
  intervalMs?: number;
  /** Flush at once when this many events are waiting. */
  maxBatch?: number;
  onError?: (err: unknown) => void;
}

export type EventLog = ReturnType<typeof createEventLog>;

export function createEventLog(opts: EventLogOptions) {
  const interval = opts.intervalMs ?? 200;
  const maxBatch = opts.maxBatch ?? 500;
  const writer: EventWriter = opts.writer ?? { write: (e, s) => opts.store!.writeEventBatch(e, s) };
  if (!opts.writer && !opts.store) throw new Error('createEventLog needs a store or a writer');
  let pending: NewBootEvent[] = [];
  let seen = new Map<string, SeenHost>();
  let timer: NodeJS.Timeout | null = null;
  let dropped = 0;
  let inFlight: Promise<void> = Promise.resolve();

  const failed = (count: number) => (err: unknown) => {
    // The event log must never take a boot down with it.
    dropped += count;
    opts.onError?.(err);
  };

  /** Hands what is waiting to the writer; resolves when it (and every earlier batch) is stored. */
  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (pending.length === 0 && seen.size === 0) return inFlight;
    const batch = pending;
    const hosts = seen;
    pending = [];
    seen = new Map();
    let done: Promise<void>;
    try {
      const r = writer.write(batch, hosts);
      done = r ? r.catch(failed(batch.length)) : Promise.resolve();
    } catch (err) {
      failed(batch.length)(err);
      done = Promise.resolve();
    }
    const previous = inFlight;
    inFlight = Promise.all([previous, done]).then(() => undefined);
    return inFlight;
  }

  return {
    record(event: Omit<NewBootEvent, 'at'> & { at?: number }, facts?: Record<string, string>): void {
      const at = event.at ?? Date.now();
      pending.push({ ...event, at });
      if (event.mac) {
        const prev = seen.get(event.mac);
        seen.set(event.mac, { first: prev?.first ?? at, at, facts: facts && Object.keys(facts).length ? facts : prev?.facts });
      }
      if (pending.length >= maxBatch) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), interval);
        timer.unref();
      }
    },
    flush,
    /** Flushes, then stops the writer (a worker thread ends). */
    async close(): Promise<void> {
      await flush();
      await writer.close?.();
    },
    get pending() {
      return pending.length;
    },
    get dropped() {
      return dropped;
    },
  };
}

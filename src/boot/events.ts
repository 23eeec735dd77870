/**
 * Boot event log, written in batches: a request pushes its event into memory
 * and returns; a timer writes the batch in one transaction (and the hosts'
 * last-seen times with it). Rendering a boot script never waits on a disk write.
 */
import type { NewBootEvent } from '../db/schema.js';
import type { SeenHost, Store } from '../db/store.js';

export interface EventLogOptions {
  store: Pick<Store, 'writeEventBatch'>;
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
  let pending: NewBootEvent[] = [];
  let seen = new Map<string, SeenHost>();
  let timer: NodeJS.Timeout | null = null;
  let dropped = 0;

  function flush(): void {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (pending.length === 0 && seen.size === 0) return;
    const batch = pending;
    const hosts = seen;
    pending = [];
    seen = new Map();
    try {
      opts.store.writeEventBatch(batch, hosts);
    } catch (err) {
      // The event log must never take a boot down with it.
      dropped += batch.length;
      opts.onError?.(err);
    }
  }

  return {
    record(event: Omit<NewBootEvent, 'at'> & { at?: number }, facts?: Record<string, string>): void {
      const at = event.at ?? Date.now();
      pending.push({ ...event, at });
      if (event.mac) {
        const prev = seen.get(event.mac);
        seen.set(event.mac, { first: prev?.first ?? at, at, facts: facts && Object.keys(facts).length ? facts : prev?.facts });
      }
      if (pending.length >= maxBatch) flush();
      else if (!timer) {
        timer = setTimeout(flush, interval);
        timer.unref();
      }
    },
    flush,
    get pending() {
      return pending.length;
    },
    get dropped() {
      return dropped;
    },
  };
}

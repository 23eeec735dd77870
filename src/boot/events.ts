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
  /**
   * Stores a batch. `urgent` is false for the log's own timed and size-limited
   * hand-overs, which a writer may hold to group them into fewer commits
   * (event-writer.ts); an explicit flush() is urgent. `keys` are the events'
   * coalescing keys (see record), for a writer that also merges a repeat
   * into a row written by an earlier batch (event-sink.ts).
   */
  write(events: NewBootEvent[], seen: Map<string, SeenHost>, urgent?: boolean, keys?: (string | undefined)[]): void | Promise<void>;
  close?(): Promise<void>;
}

export interface EventLogOptions {
  /** Where batches go; a store writes them in-thread. */
  store?: Pick<Store, 'writeEventBatch'>;
  writer?: EventWriter;
  /** Flush after this many ms at the latest. */
  intervalMs?: number;
  /**
   * Flush at once when this many events are waiting. Small batches keep the
   * hand-over short: encoding a batch for the worker (each detail's JSON, one
   * string, event-codec.ts) takes about 1 µs an event on the event loop, so
   * 128 events hold it for some 0.15 ms. The worker groups batches into
   * commits itself (event-writer.ts), so small ones cost no extra commits.
   */
  maxBatch?: number;
  /**
   * At most this many events handed to the writer and not yet stored (a
   * posted batch waits in the worker's queue, encoded: some 700 bytes an
   * event); past it, new events are dropped (and counted) until the writer
   * has caught up by half, so a storm the disk cannot follow costs events,
   * not all the memory.
   */
  maxQueued?: number;
  onError?: (err: unknown) => void;
}

export type EventLog = ReturnType<typeof createEventLog>;

type RecordedEvent = Omit<NewBootEvent, 'at'> & { at?: number };

export function createEventLog(opts: EventLogOptions) {
  const interval = opts.intervalMs ?? 200;
  const maxBatch = opts.maxBatch ?? 128;
  const maxQueued = opts.maxQueued ?? 100_000;
  const writer: EventWriter = opts.writer ?? { write: (e, s) => opts.store!.writeEventBatch(e, s) };
  if (!opts.writer && !opts.store) throw new Error('createEventLog needs a store or a writer');
  let pending: NewBootEvent[] = [];
  /** The coalescing key of each pending event (undefined: none). */
  let pendingKeys: (string | undefined)[] = [];
  let seen = new Map<string, SeenHost>();
  /** Events of the pending batch by coalescing key (see record). */
  let byKey = new Map<string, NewBootEvent>();
  let timer: NodeJS.Timeout | null = null;
  let dropped = 0;
  /** Handed to the writer, not yet stored (a worker writer only: an in-thread one stores before write() returns). */
  let queued = 0;
  let overflowing = false;
  let inFlight: Promise<void> = Promise.resolve();

  const failed = (count: number) => (err: unknown) => {
    // The event log must never take a boot down with it.
    dropped += count;
    opts.onError?.(err);
  };

  /** Hands what is waiting to the writer; resolves when it (and every earlier batch) is stored. */
  function flush(urgent = true): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (pending.length === 0 && seen.size === 0) return inFlight;
    const batch = pending;
    const keys = pendingKeys;
    const hosts = seen;
    pending = [];
    pendingKeys = [];
    seen = new Map();
    if (byKey.size) byKey = new Map();
    let done: Promise<void>;
    try {
      const r = writer.write(batch, hosts, urgent, keys);
      if (r) {
        const n = batch.length;
        queued += n;
        done = r.catch(failed(n)).finally(() => {
          queued -= n;
        });
      } else done = Promise.resolve();
    } catch (err) {
      failed(batch.length)(err);
      done = Promise.resolve();
    }
    const previous = inFlight;
    inFlight = Promise.all([previous, done]).then(() => undefined);
    return inFlight;
  }

  function markSeen(mac: string, at: number, facts: Record<string, string> | undefined): void {
    const prev = seen.get(mac);
    const reported = facts && Object.keys(facts).length ? facts : undefined;
    if (prev) {
      prev.at = at;
      if (reported) prev.facts = reported;
    } else seen.set(mac, { first: at, at, facts: reported });
  }

  return {
    /**
     * Queues one event. With a `coalesceKey`, an event whose key matches one
     * still waiting in this batch is not queued again: the waiting one counts
     * it instead (detail.count, detail.lastAt). A client retransmitting one
     * DHCP transaction is one row, not one per packet. The worker writer also
     * merges a repeat into the row an earlier batch wrote, within a minute
     * (event-sink.ts): PXE firmware retransmits a DISCOVER after 4, 8, 16 and
     * 32 s, far apart for one batch.
     */
    record(event: RecordedEvent, facts?: Record<string, string>, coalesceKey?: string): void {
      const at = event.at ?? Date.now();
      if (coalesceKey !== undefined) {
        const same = byKey.get(coalesceKey);
        if (same) {
          const detail = (same.detail ??= {});
          detail.count = ((detail.count as number | undefined) ?? 1) + 1;
          detail.lastAt = at;
          if (event.mac) markSeen(event.mac, at, facts);
          return;
        }
      }
      const waiting = queued + pending.length;
      if (overflowing ? waiting >= maxQueued / 2 : waiting >= maxQueued) {
        // Dropping until half the backlog is written, not on and off at the limit.
        dropped++;
        if (!overflowing) {
          overflowing = true;
          opts.onError?.(new Error(`boot event log: ${waiting} events wait for the writer; dropping new ones until it catches up`));
        }
        return;
      }
      overflowing = false;
      // A fixed-shape copy (not a spread): this runs for every DHCP packet answered.
      const e: NewBootEvent = { at, mac: event.mac, clientIp: event.clientIp, kind: event.kind, request: event.request, result: event.result, status: event.status, detail: event.detail };
      pending.push(e);
      pendingKeys.push(coalesceKey);
      if (coalesceKey !== undefined) byKey.set(coalesceKey, e);
      if (event.mac) markSeen(event.mac, at, facts);
      if (pending.length >= maxBatch) void flush(false);
      else if (!timer) {
        timer = setTimeout(() => void flush(false), interval);
        timer.unref();
      }
    },
    /** Hands everything waiting to the writer, to be stored at once; resolves when it is stored. */
    flush: (): Promise<void> => flush(true),
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

/**
 * A satellite's boot events (its proxyDHCP's and TFTP's), sent to the
 * centre's event log in batches. The queue is bounded: while the centre is
 * down the oldest events are dropped (and counted; the count is logged when
 * dropping starts and when the centre takes events again), so a long outage
 * costs history, never the satellite's memory. Every event is also logged
 * here.
 */
import type { Logger } from '../log.js';
import type { EventLog } from '../boot/events.js';
import { API_PREFIX, EVENT_BATCH_MAX, SATELLITE_EVENT_KINDS, type SatelliteEvent } from './protocol.js';
import { describeFetchError } from './health.js';

type Recorded = Parameters<EventLog['record']>[0];

export interface ForwarderOptions {
  upstream: string;
  token: string;
  /** Names this satellite in the centre's events (detail.satellite). */
  satellite?: string;
  log: Logger;
  /** Events held at most (default 10,000). */
  maxQueued?: number;
  /** Events per POST (default and most 1000). */
  batchSize?: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
  now?: () => number;
}

const clip = (s: string, n: number) => s.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, n);
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** An event as the centre's schema takes it (lengths bounded, detail small), or null for a kind it does not take. */
export function toWire(e: Recorded, at: number): SatelliteEvent | null {
  if (!(SATELLITE_EVENT_KINDS as readonly string[]).includes(e.kind)) return null;
  let detail = (e.detail ?? null) as Record<string, unknown> | null;
  if (detail && JSON.stringify(detail).length > 4000) detail = { truncated: true, outcome: detail.outcome ?? null, boot: detail.boot ?? null };
  const status = Number.isInteger(e.status) && (e.status as number) >= 100 && (e.status as number) <= 599 ? (e.status as number) : 200;
  return {
    at,
    mac: e.mac && MAC.test(e.mac) ? e.mac : null,
    clientIp: e.clientIp && IPV4.test(e.clientIp) ? e.clientIp : null,
    kind: e.kind as SatelliteEvent['kind'],
    request: clip(e.request, 512),
    result: clip(e.result, 512),
    status,
    detail,
  };
}

export function createEventForwarder(opts: ForwarderOptions) {
  const fetchFn = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const maxQueued = opts.maxQueued ?? 10_000;
  const batchSize = Math.min(opts.batchSize ?? EVENT_BATCH_MAX, EVENT_BATCH_MAX);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let queue: SatelliteEvent[] = [];
  let dropped = 0;
  /** Dropped since the centre last took a batch (logged when it does again). */
  let droppedUnreported = 0;
  let sent = 0;
  let sending: Promise<boolean> | null = null;
  let lastError: string | null = null;
  // The ip → MAC of DHCP clients, so TFTP events (which know only addresses) name the host.
  const macs = new Map<string, string>();
  /** Queued events by coalescing key: a client retransmitting one DHCP transaction is one event with a count (as in events.ts). */
  let byKey = new Map<string, SatelliteEvent>();

  function learn(ip: string, mac: string): void {
    if (macs.get(ip) === mac) return;
    macs.delete(ip);
    if (macs.size >= 10_000) macs.delete(macs.keys().next().value!);
    macs.set(ip, mac);
  }

  return {
    /** EventLog-shaped, for createProxyDhcpServer and createTftpServer. */
    record(e: Recorded, _facts?: Record<string, string>, coalesceKey?: string): void {
      const at = e.at ?? now();
      if (e.mac && e.clientIp) learn(e.clientIp, e.mac);
      if (coalesceKey !== undefined) {
        const same = byKey.get(coalesceKey);
        if (same) {
          const detail = (same.detail ??= {});
          detail.count = ((detail.count as number | undefined) ?? 1) + 1;
          detail.lastAt = at;
          return;
        }
      }
      const line = { kind: e.kind, mac: e.mac ?? undefined, clientIp: e.clientIp ?? undefined, status: e.status, boot: (e.detail as { boot?: string } | null)?.boot };
      opts.log.info(line, `${e.kind} ${e.request}: ${e.result}`);
      const w = toWire(e, at);
      if (!w) return;
      if (queue.length >= maxQueued) {
        // Oldest first: the newest steps are the ones an admin looks for.
        const drop = queue.length - maxQueued + 1;
        queue.splice(0, drop);
        if (dropped === 0 || droppedUnreported === 0) opts.log.warn({ maxQueued }, `boot event queue full (${maxQueued}) while the centre does not take events: dropping the oldest`);
        dropped += drop;
        droppedUnreported += drop;
      }
      queue.push(w);
      if (coalesceKey !== undefined) {
        if (byKey.size >= maxQueued) byKey = new Map();
        byKey.set(coalesceKey, w);
      }
    },
    macForIp(ip: string): string | undefined {
      return macs.get(ip);
    },
    /**
     * Sends what is queued, batch by batch, until the queue is empty or the
     * centre refuses; a batch it did not take goes back to the front.
     */
    flush(): Promise<boolean> {
      sending ??= (async () => {
        while (queue.length) {
          // What goes out now can no longer count repeats.
          if (byKey.size) byKey = new Map();
          const batch = queue.slice(0, batchSize);
          queue = queue.slice(batch.length);
          try {
            const res = await fetchFn(`${opts.upstream}${API_PREFIX}/events`, {
              method: 'POST',
              headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ ...(opts.satellite ? { satellite: opts.satellite } : {}), events: batch }),
              signal: AbortSignal.timeout(timeoutMs),
            });
            const text = await res.text().catch(() => '');
            if (res.status === 400 || res.status === 413) {
              // The centre will never take this batch: dropping it beats blocking every later one.
              dropped += batch.length;
              opts.log.error({ status: res.status, events: batch.length }, `the centre refused a batch of ${batch.length} boot events, dropped: ${text.slice(0, 300)}`);
              continue;
            }
            if (!res.ok) throw new Error(`POST ${API_PREFIX}/events answered ${res.status}`);
            sent += batch.length;
            if (droppedUnreported) {
              opts.log.warn({ dropped: droppedUnreported }, `${droppedUnreported} boot event(s) were dropped while the centre did not take them (queue of ${maxQueued})`);
              droppedUnreported = 0;
            }
            lastError = null;
          } catch (err) {
            // Back to the front, within the bound (events recorded meanwhile are newer).
            const room = Math.max(0, maxQueued - queue.length);
            const keep = batch.slice(batch.length - Math.min(room, batch.length));
            const lost = batch.length - keep.length;
            dropped += lost;
            droppedUnreported += lost;
            queue = [...keep, ...queue];
            lastError = describeFetchError(err, timeoutMs);
            return false;
          }
        }
        return true;
      })().finally(() => (sending = null));
      return sending;
    },
    get stats() {
      return { queued: queue.length, sent, dropped, lastError };
    },
  };
}
export type EventForwarder = ReturnType<typeof createEventForwarder>;

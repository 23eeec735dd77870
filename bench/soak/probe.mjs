/**
 * Preloaded into the server by bench/soak (`node --import …/probe.mjs dist/src/cli.js serve`):
 * measures the server's own event-loop delay from inside, since the service
 * does not expose it by itself (when GET /metrics carries
 * nodejs_eventloop_lag_* the soak reads that too). Observation only: a
 * monitorEventLoopDelay histogram (libuv timer, no JavaScript per tick) and
 * one line appended to $SOAK_PROBE_FILE every $SOAK_PROBE_INTERVAL_MS:
 *
 *   {"t":…,"p50":ms,"p99":ms,"max":ms,"mean":ms,"heapUsed":B,"heapTotal":B,"external":B,"arrayBuffers":B}
 *
 * Delays are beyond the 5 ms sampling period. The histogram is reset after
 * each line, so each line covers one interval.
 * Without SOAK_PROBE_FILE it does nothing.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.SOAK_PROBE_FILE;
// `node --import` runs this in every worker thread too (the boot event writer is one): the main
// thread's loop is the one that answers requests, and only its numbers go to the file.
if (file && isMainThread) {
  const every = Math.max(1000, Number(process.env.SOAK_PROBE_INTERVAL_MS) || 10_000);
  const RESOLUTION_MS = 5;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  // The histogram holds whole timer periods (the 5 ms resolution included):
  // reported is the delay beyond it, what a request queued behind a busy loop waits.
  const ms = (ns) => Math.max(0, Math.round(ns / 1e3) / 1e3 - RESOLUTION_MS);
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      p50: ms(h.percentile(50)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      mean: ms(h.mean),
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
    h.reset();
    try {
      appendFileSync(file, JSON.stringify(line) + '\n');
    } catch {
      // The soak's work folder is gone: nothing left to report to.
    }
  }, every);
  // Never keeps the server alive on its own.
  timer.unref();
}

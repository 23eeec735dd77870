/**
 * chainboot's proxyDHCP as `serve` runs it, for bench/dhcp: compiled code
 * from dist/ (run.ts builds it first), plain node, no tsx — tsx cannot start
 * the event writer's worker thread (a .ts worker entry fails to load), and its
 * transform wraps closures in __name() calls that production code does not
 * pay. The real store (SQLite with the real migrations, in a temporary file)
 * for per-host lookups, the real batched boot event log written by its worker
 * thread, log level warn (dnsmasq runs with --quiet-dhcp beside it). Prints
 * {"type":"listening"} when bound, and its counters (with the event log's
 * written/dropped totals) on SIGTERM.
 *
 *   CHAINBOOT_DIST=DIR the build to run (a dist/src folder; default this tree's)
 *   BENCH_NO_EVENTS=1  no boot event log (to show what recording costs)
 *   BENCH_NO_DB=1      no host lookup (every MAC unknown without asking SQLite)
 *   BENCH_NO_HOST_CACHE=1 the host lookup asks SQLite for every packet (as before the cache)
 *   BENCH_MAX_BATCH=N  the event log's maxBatch
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dist = process.env.CHAINBOOT_DIST ? pathToFileURL(process.env.CHAINBOOT_DIST.replace(/\/?$/, '/')) : new URL('../../dist/src/', import.meta.url);
const { openDb } = await import(new URL('db/client.js', dist).href);
const { createStore } = await import(new URL('db/store.js', dist).href);
const { createEventLog } = await import(new URL('boot/events.js', dist).href);
const { startEventWriter } = await import(new URL('boot/event-writer.js', dist).href);
const { createLogger } = await import(new URL('log.js', dist).href);
const { createProxyDhcpServer } = await import(new URL('dhcp/server.js', dist).href);
// Builds from before the host lookup cache (--compare DIR) look hosts up per packet.
const hostCache = await import(new URL('dhcp/host-cache.js', dist).href).catch(() => null);
// Builds from before boot ids (--compare DIR) have no correlator: run them without.
const bootIds = await import(new URL('metrics/boot-id.js', dist).href).catch(() => null);

const dir = mkdtempSync(join(tmpdir(), 'chainboot-bench-dhcp-'));
const dbFile = join(dir, 'chainboot.db');
const db = openDb(dbFile);
const store = createStore(db);
const log = createLogger('warn');
let writeErrors = 0;
const onError = (err) => {
  writeErrors++;
  log.error({ err }, 'events');
};
// As `serve` does: batches go to a worker thread with its own connection.
const writer = startEventWriter(dbFile, onError);
const events = createEventLog({ store, writer, onError, ...(process.env.BENCH_MAX_BATCH ? { maxBatch: Number(process.env.BENCH_MAX_BATCH) } : {}) });

const server = createProxyDhcpServer({
  httpBaseUrl: 'http://10.95.0.1:8080',
  // As serve does: the host table's answers cached (dhcp/host-cache.ts).
  hostLookup: process.env.BENCH_NO_DB ? () => undefined : hostCache && !process.env.BENCH_NO_HOST_CACHE ? hostCache.createHostLookupCache(db.$client, (mac) => store.hostAndProfile(mac).host) : (mac) => store.hostAndProfile(mac).host,
  log,
  events: process.env.BENCH_NO_EVENTS ? undefined : events,
  // As serve does: every DISCOVER gets its machine's boot id.
  bootId: bootIds ? bootIds.createBootCorrelator().dhcp : undefined,
  // The load generator uses a pool of MACs far larger than one flood; the limiter stays on, as in production.
});
const report = await server.listen();
// How long the event loop was blocked (one stall delays every request queued behind it): reported with the counters.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
process.stdout.write(JSON.stringify({ type: 'listening', report }) + '\n');
process.on('SIGTERM', () => {
  void server.close().then(async () => {
    await events.close();
    // What actually reached the database: the bench checks it against the answers.
    const rows = db.$client.prepare('SELECT count(*) AS n FROM boot_events').get().n;
    loopDelay.disable();
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    const eventLoopDelayMs = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) };
    process.stdout.write(JSON.stringify({ type: 'counters', counters: server.counters, events: { rows, dropped: events.dropped, writeErrors }, eventLoopDelayMs }) + '\n');
    db.$client.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});

/**
 * chainboot's proxyDHCP as `serve` would run it, for bench/dhcp: the real
 * store (SQLite with the real migrations, in a temporary file) for per-host
 * lookups, the real batched boot event log written by its worker thread, log level warn (dnsmasq runs
 * with --quiet-dhcp beside it). Prints {"type":"listening"} when bound and
 * its counters on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createEventLog } from '../../src/boot/events.js';
import { startEventWriter } from '../../src/boot/event-writer.js';
import { createLogger } from '../../src/log.js';
import { createProxyDhcpServer } from '../../src/dhcp/server.js';

const dir = mkdtempSync(join(tmpdir(), 'chainboot-bench-dhcp-'));
const db = openDb(join(dir, 'chainboot.db'));
const store = createStore(db);
const log = createLogger('warn');
const onError = (err: unknown) => log.error({ err }, 'events');
// As `serve` does: batches go to a worker thread with its own connection.
const writer = startEventWriter(join(dir, 'chainboot.db'), onError);
const events = createEventLog({ store, writer, onError });

const server = createProxyDhcpServer({
  httpBaseUrl: 'http://10.95.0.1:8080',
  hostLookup: process.env.BENCH_NO_DB ? () => undefined : (mac) => store.hostAndProfile(mac).host,
  log,
  events: process.env.BENCH_NO_EVENTS ? undefined : events,
  // The load generator uses a pool of MACs far larger than one flood; the limiter stays on, as in production.
});
const report = await server.listen();
process.stdout.write(JSON.stringify({ type: 'listening', report }) + '\n');
process.on('SIGTERM', () => {
  void server.close().then(async () => {
    await events.flush();
    await writer.close?.();
    process.stdout.write(JSON.stringify({ type: 'counters', counters: server.counters, eventsDropped: events.dropped }) + '\n');
    db.$client.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});

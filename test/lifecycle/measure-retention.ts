/**
 * Measures one retention pass over a million boot events in a file database
 * (WAL, as serve runs it), in-thread and in serve's retention worker thread,
 * while the main thread does what serve does meanwhile: a host lookup every
 * millisecond (the render path) and a small write every 10 ms (a discovered
 * host, a task change). Reported: pass time, batches, the longest batch, the
 * main thread's event-loop delay, and the slowest lookup and write.
 *
 *   npm run build && npx tsx test/lifecycle/measure-retention.ts [rows=1000000] [in-thread,worker]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openDb, type Db } from '../../src/db/client.js';
import { createRetention, type RetentionPolicy, type RetentionResult } from '../../src/db/retention.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const DAY = 86_400_000;
const NOW = Date.now();

function fill(file: string, rows: number, oldShare: number): Db {
  const db = openDb(file);
  const ins = db.$client.prepare('INSERT INTO boot_events (at, mac, client_ip, kind, request, result, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const detail = JSON.stringify({ port: 67, message: 'DISCOVER', xid: 305419896, arch: 7, archName: 'efi64', vendorClass: 'PXEClient:Arch:00007:UNDI:003016', firmware: 'efi64', outcome: 'loader', bootFile: 'ipxe.efi', to: '255.255.255.255:68' });
  const chunk = 50_000;
  for (let done = 0; done < rows; done += chunk) {
    db.$client.transaction(() => {
      for (let i = done; i < Math.min(rows, done + chunk); i++) {
        // The oldest `oldShare` of the rows are 100–120 days old, the rest from the last 30 days; in id order.
        const at = i < rows * oldShare ? NOW - 120 * DAY + (i / (rows * oldShare)) * 20 * DAY : NOW - 30 * DAY + ((i - rows * oldShare) / rows) * 30 * DAY;
        const mac = `52:54:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}:01`;
        ins.run(Math.floor(at), mac, '10.0.0.1', 'dhcp', 'DISCOVER efi64', 'offer ipxe.efi', 200, detail);
      }
    })();
  }
  db.$client.pragma('wal_checkpoint(TRUNCATE)');
  return db;
}

type Mode = 'in-thread' | 'worker';

async function measure(mode: Mode, label: string, rows: number, oldShare: number, policy: RetentionPolicy) {
  const dir = mkdtempSync(join(tmpdir(), 'chainboot-retention-'));
  const file = join(dir, 'chainboot.db');
  const db = fill(file, rows, oldShare);
  const bytes = statSync(file).size;
  const lookup = db.$client.prepare("SELECT * FROM hosts WHERE mac = '52:54:00:00:00:01'");
  const write = db.$client.prepare("INSERT INTO settings (key, value) VALUES ('probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  let slowestLookup = 0;
  let slowestWrite = 0;
  let ticks = 0;
  const probe = setInterval(() => {
    const t0 = performance.now();
    lookup.get();
    slowestLookup = Math.max(slowestLookup, performance.now() - t0);
    if (++ticks % 10 === 0) {
      const w0 = performance.now();
      write.run(String(ticks));
      slowestWrite = Math.max(slowestWrite, performance.now() - w0);
    }
  }, 1);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let r: RetentionResult;
  if (mode === 'in-thread') {
    r = await createRetention(db, { batchSize: 500 }).run(policy);
  } else {
    // The worker loads the built module (a worker cannot load .ts).
    const dist = (await import(join(process.cwd(), 'dist/src/db/retention.js'))) as typeof import('../../src/db/retention.js');
    db.$client.pragma('wal_autocheckpoint = 0'); // as serve sets its main connection
    const w = dist.startRetentionWorker(file);
    r = await w.run(policy);
    await w.close();
  }
  h.disable();
  clearInterval(probe);
  const left = Number(db.$client.prepare('SELECT count(*) FROM boot_events').pluck().get());
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `${mode.padEnd(9)} ${label.padEnd(28)}: deleted ${r.byAge + r.byCount} of ${rows} (${left} left) in ${(r.ms / 1000).toFixed(1)} s, ${r.batches} batches of 500, longest ${r.maxBatchMs.toFixed(1)} ms; ` +
      `main thread: event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms, slowest lookup ${slowestLookup.toFixed(1)} ms, slowest write ${slowestWrite.toFixed(1)} ms; file ${(bytes / 1e6).toFixed(0)} MB`,
  );
}

for (const mode of (process.argv[3] ?? 'in-thread,worker').split(',') as Mode[]) {
  await measure(mode, '1M older than 90 days', ROWS, 1, { maxAgeDays: 90, maxCount: 0 });
  await measure(mode, '1.2M, keep the newest 200k', Math.round(ROWS * 1.2), 0, { maxAgeDays: 0, maxCount: Math.round(ROWS * 0.2) });
}

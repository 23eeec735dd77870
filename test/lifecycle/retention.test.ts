/**
 * Boot event retention over the real schema: by age, by count, both, in
 * batches, and stopping between batches when told to.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/db/client.js';
import { createRetention } from '../../src/db/retention.js';
import { requireBuilt } from '../helpers/process.js';
import { signal, startServer } from './helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

function seed(db: Db, ages: number[]): void {
  const ins = db.$client.prepare("INSERT INTO boot_events (at, mac, kind, request, result, status) VALUES (?, '52:54:00:00:00:01', 'script', '/ipxe', 'ok', 200)");
  db.$client.transaction(() => {
    for (const a of ages) ins.run(NOW - a);
  })();
}

const remaining = (db: Db) => db.$client.prepare('SELECT id, at FROM boot_events ORDER BY id').all() as { id: number; at: number }[];

describe('boot event retention', () => {
  it('deletes events older than N days, in batches, and keeps the rest', async () => {
    const db = openDb(':memory:');
    // 25 events from 40 days ago down to 16 days ago, one per day; then 5 from today.
    seed(db, [...Array.from({ length: 25 }, (_, i) => (40 - i) * DAY), 5, 4, 3, 2, 1]);
    const r = await createRetention(db, { batchSize: 4, now: () => NOW }).run({ maxAgeDays: 30, maxCount: 0 });
    // Older than 30 days: 40 … 31 days old, ten of them; exactly 30 days is kept.
    expect(r).toMatchObject({ byAge: 10, byCount: 0, batches: 3 });
    const left = remaining(db);
    expect(left).toHaveLength(20);
    expect(left.every((e) => e.at >= NOW - 30 * DAY)).toBe(true);
    expect(left[0]!.id).toBe(11);
  });

  it('keeps only the newest M events', async () => {
    const db = openDb(':memory:');
    seed(db, Array.from({ length: 103 }, (_, i) => 103 - i));
    const r = await createRetention(db, { batchSize: 10, now: () => NOW }).run({ maxAgeDays: 0, maxCount: 25 });
    expect(r).toMatchObject({ byAge: 0, byCount: 78, batches: 8 });
    const left = remaining(db);
    expect(left.map((e) => e.id)).toEqual(Array.from({ length: 25 }, (_, i) => 79 + i));
    // Nothing more to do on the next pass, and one cheap batch to find that out.
    expect(await createRetention(db, { batchSize: 10 }).run({ maxAgeDays: 0, maxCount: 25 })).toMatchObject({ byCount: 0, batches: 1 });
    // Under the limit: no batch at all.
    expect(await createRetention(db).run({ maxAgeDays: 0, maxCount: 1000 })).toMatchObject({ batches: 0 });
  });

  it('applies both limits: age first, then count', async () => {
    const db = openDb(':memory:');
    seed(db, [...Array.from({ length: 10 }, () => 100 * DAY), ...Array.from({ length: 50 }, (_, i) => 50 - i)]);
    const r = await createRetention(db, { now: () => NOW }).run({ maxAgeDays: 90, maxCount: 20 });
    expect(r).toMatchObject({ byAge: 10, byCount: 30 });
    expect(remaining(db)).toHaveLength(20);
    expect(remaining(db)[0]!.id).toBe(41);
  });

  it('0 turns each limit off', async () => {
    const db = openDb(':memory:');
    seed(db, [1000 * DAY, 1]);
    expect(await createRetention(db, { now: () => NOW }).run({ maxAgeDays: 0, maxCount: 0 })).toMatchObject({ byAge: 0, byCount: 0, batches: 0 });
    expect(remaining(db)).toHaveLength(2);
  });

  it('stops between batches when the server is stopping, and a second call joins the running pass', async () => {
    const db = openDb(':memory:');
    seed(db, Array.from({ length: 100 }, () => 400 * DAY));
    let stopping = false;
    let batches = 0;
    const retention = createRetention(db, {
      batchSize: 10,
      now: () => NOW,
      stopped: () => stopping,
      pause: async () => {
        if (++batches === 3) stopping = true;
      },
    });
    const a = retention.run({ maxAgeDays: 1, maxCount: 5 });
    const b = retention.run({ maxAgeDays: 1, maxCount: 5 });
    expect(b).toBe(a);
    const r = await a;
    expect(r).toMatchObject({ byAge: 30, byCount: 0, batches: 3 });
    expect(remaining(db)).toHaveLength(70);
    await retention.idle();
  });
});

describe('retention in serve', () => {
  it('the sweep at start deletes by age and count in the retention worker, and serve still stops cleanly', async () => {
    requireBuilt();
    const dataDir = mkdtempSync(join(tmpdir(), 'chainboot-retention-serve-'));
    try {
      const db = openDb(join(dataDir, 'chainboot.db'));
      const now = Date.now();
      // 300 events from 60 days ago, then 200 from the last hour.
      const ins = db.$client.prepare("INSERT INTO boot_events (at, kind, request, result, status) VALUES (?, 'script', '/ipxe', 'ok', 200)");
      db.$client.transaction(() => {
        for (let i = 0; i < 300; i++) ins.run(now - 60 * DAY + i);
        for (let i = 0; i < 200; i++) ins.run(now - 3_600_000 + i);
      })();
      db.$client.close();

      const s = await startServer(['--data-dir', dataDir, '--event-retention-days', '30', '--event-retention-count', '150'], { tftp: false });
      try {
        const line = await s.waitLog((l) => l.msg.startsWith('boot event retention: deleted'), 'retention log line');
        expect(line).toMatchObject({ byAge: 300, byCount: 50 });
        signal(s, 'SIGTERM');
        expect(await s.exited).toBe(0);
      } finally {
        if (s.proc.exitCode === null) {
          signal(s, 'SIGKILL');
          await s.exited;
        }
      }
      const after = openDb(join(dataDir, 'chainboot.db'));
      expect(remaining(after).map((e) => e.id)).toEqual(Array.from({ length: 150 }, (_, i) => 351 + i));
      after.$client.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

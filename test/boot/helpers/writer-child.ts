/**
 * Runs the event writer's worker thread from the TypeScript sources (the
 * worker inherits this process's `--import tsx`), for event-writer.test.ts:
 * records the events given as JSON on argv[3] into the database argv[2]
 * through createEventLog + startEventWriter, flushes, closes, and prints
 * {"ok":true} or the error.
 */
import { openDb } from '../../../src/db/client.js';
import { createStore } from '../../../src/db/store.js';
import { createEventLog } from '../../../src/boot/events.js';
import { startEventWriter } from '../../../src/boot/event-writer.js';

const [dbFile, json, maxBatch] = process.argv.slice(2);
const db = openDb(dbFile!);
const store = createStore(db);
const errors: string[] = [];
const writer = startEventWriter(dbFile!, (e) => errors.push(String(e)), { commitIntervalMs: 60_000, workerEntry: new URL('./writer-worker.mjs', import.meta.url) });
const log = createEventLog({ store, writer, maxBatch: Number(maxBatch ?? 128), intervalMs: 60_000, onError: (e) => errors.push(String(e)) });
const events = JSON.parse(json!) as { mac: string; at: number; request: string; facts?: Record<string, string> }[];
for (const e of events) log.record({ at: e.at, mac: e.mac, clientIp: null, kind: 'dhcp', request: e.request, result: 'offer', status: 200, detail: { n: e.at } }, e.facts);
await log.close();
process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors, dropped: log.dropped }) + '\n');
db.$client.close();

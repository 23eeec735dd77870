/**
 * chainboot's TFTP server as the bench runs it: the production code path,
 * with the real boot event log writing into an in-memory SQLite database.
 * Runs until SIGTERM/SIGINT, then closes gracefully and prints its counters.
 *
 * usage: node --import tsx bench/tftp/serve.ts ROOT PORT [windowsizeMax]
 */
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { createEventLog } from '../../src/boot/events.js';
import { createLogger } from '../../src/log.js';
import { createTftpServer } from '../../src/tftp/server.js';

const [root, portText, windowText] = process.argv.slice(2);
if (!root || !portText) {
  process.stderr.write('usage: serve.ts ROOT PORT [windowsizeMax]\n');
  process.exit(2);
}
const log = createLogger('warn');
const db = openDb(':memory:');
const events = createEventLog({ store: createStore(db), onError: (err) => log.error({ err }, 'event log') });
const server = createTftpServer({
  root,
  port: Number(portText),
  host: '0.0.0.0',
  log,
  events,
  maxSessions: 1000,
  // The load generator's 64 clients all come from 127.0.0.1, where a boot storm's
  // come from 64 hosts: the per-client limit (32 by default) would refuse half of
  // them and the bench would measure "busy" errors instead of transfers.
  maxSessionsPerClient: 1000,
  windowsizeMax: windowText ? Number(windowText) : 64,
});
const { port } = await server.listen();
process.stdout.write(`ready ${port}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close({ deadlineMs: 2000 });
  events.flush();
  process.stdout.write(`counters ${JSON.stringify(server.counters)}\n`);
  db.$client.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

/**
 * Transfers land in the real boot event log (SQLite, the committed
 * migrations), kind "tftp", so a PXE-E32 can be traced from the host timeline.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEventLog } from '../../src/boot/events.js';
import { openDb } from '../../src/db/client.js';
import { createStore } from '../../src/db/store.js';
import { silentLogger } from '../../src/log.js';
import { encodeAck, encodeRequest } from '../../src/tftp/packet.js';
import { createTftpServer } from '../../src/tftp/server.js';
import { bytes, makeRoot, RawClient, removeDir } from './helpers.js';

let root: string;
beforeAll(() => {
  root = makeRoot({ 'undionly.kpxe': bytes(2000, 5) });
});
afterAll(() => removeDir(root));

it('every transfer and refusal is a boot event with client, file, options, bytes, duration, outcome', async () => {
  const db = openDb(':memory:');
  const store = createStore(db);
  const events = createEventLog({ store });
  let ended = 0;
  let onEnd: () => void = () => {};
  const counted = {
    record: (e: Parameters<typeof events.record>[0]) => {
      events.record(e);
      ended++;
      onEnd();
    },
  };
  const server = createTftpServer({ root, host: '127.0.0.1', port: 0, log: silentLogger, events: counted, macForIp: (ip) => (ip === '127.0.0.1' ? 'aa-bb-cc-dd-ee-ff' : null) });
  const { port } = await server.listen();
  const c = await RawClient.open();
  try {
    const allEnded = new Promise<void>((resolve) => {
      onEnd = () => ended === 2 && resolve();
    });
    await c.send(encodeRequest('rrq', '/undionly.kpxe', 'octet', [['tsize', '0'], ['blksize', '1468']]), port);
    const oack = await c.nextOf('oack');
    await c.send(encodeAck(0), oack.from.port);
    const d1 = await c.nextOf('data');
    await c.send(encodeAck(d1.packet.block), oack.from.port);
    const d2 = await c.nextOf('data');
    await c.send(encodeAck(d2.packet.block), oack.from.port);
    await c.send(encodeRequest('rrq', 'missing.0', 'octet'), port);
    expect((await c.nextOf('error')).packet.code).toBe(1);
    await allEnded;
    await events.flush();

    const list = store.listEvents({ kinds: ['tftp'] });
    expect(list).toHaveLength(2);
    const sent = list.find((e) => e.request === '/undionly.kpxe')!;
    expect(sent).toMatchObject({ kind: 'tftp', status: 200, clientIp: '127.0.0.1', mac: 'aa-bb-cc-dd-ee-ff', result: 'sent 2000 bytes' });
    expect(sent.detail!).toMatchObject({ clientPort: c.port, options: { tsize: '0', blksize: '1468' }, accepted: { tsize: '2000', blksize: '1468' }, bytes: 2000, outcome: 'complete' });
    expect(typeof sent.detail!.durationMs).toBe('number');
    const missing = list.find((e) => e.request === 'missing.0')!;
    expect(missing).toMatchObject({ status: 404, result: 'not found' });
    expect(missing.detail!).toMatchObject({ outcome: 'not-found', tftpError: 1 });
  } finally {
    c.close();
    await server.close();
    await events.close();
    db.$client.close();
  }
});

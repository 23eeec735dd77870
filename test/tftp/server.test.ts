/**
 * The server over real loopback sockets, driven by a raw client for the
 * packet sequences real client programs will not produce: wrong TIDs,
 * duplicate ACKs, a client that ignores the OACK, a lost final ACK, garbage.
 * Every wait is on a packet or a boot event, never on the clock.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAck, encodeError, encodeRequest, OP, type OptionList } from '../../src/tftp/packet.js';
import { createTftpServer, TftpBindError } from '../../src/tftp/server.js';
import { silentLogger } from '../../src/log.js';
import { bytes, captureLogger, makeRoot, RawClient, removeDir, startServer, type Received } from './helpers.js';

const LOADER = bytes(70_000, 7);
let root: string;

beforeAll(() => {
  root = makeRoot({ 'undionly.kpxe': LOADER, 'small.bin': bytes(1000, 3), 'text.cfg': 'a\nb\n' });
});
afterAll(() => removeDir(root));

/** Reads a whole transfer as a windowsize-1 client would; returns the data and the DATA packets' sources. */
async function download(c: RawClient, first: Received, blksize = 512, ackTwice = false): Promise<{ data: Buffer; blocks: number[]; tid: number }> {
  const parts: Buffer[] = [];
  const blocks: number[] = [];
  let r = first;
  const tid = r.from.port;
  for (;;) {
    if (r.packet.op !== 'data') throw new Error(`expected DATA, got ${r.packet.op}`);
    parts.push(r.packet.data);
    blocks.push(r.packet.block);
    await c.send(encodeAck(r.packet.block), tid);
    if (ackTwice) await c.send(encodeAck(r.packet.block), tid);
    if (r.packet.data.length < blksize) break;
    r = await c.next(`DATA ${r.packet.block + 1}`);
  }
  return { data: Buffer.concat(parts), blocks, tid };
}

async function rrq(c: RawClient, port: number, name: string, options: OptionList = [], mode: 'octet' | 'netascii' = 'octet'): Promise<Received> {
  await c.send(encodeRequest('rrq', name, mode, options), port);
  return c.next(`reply to RRQ ${name}`);
}

describe('read requests', () => {
  it('octet without options: DATA from a new port (the TID), whole file, event logged', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'undionly.kpxe');
      expect(first.packet).toMatchObject({ op: 'data', block: 1 });
      expect(first.from.port).not.toBe(port);
      const { data, blocks } = await download(c, first);
      expect(data.equals(LOADER)).toBe(true);
      expect(blocks).toHaveLength(Math.floor(70_000 / 512) + 1);
      const ev = await sink.waitFor((e) => e.request === 'undionly.kpxe');
      expect(ev).toMatchObject({ kind: 'tftp', mac: null, clientIp: '127.0.0.1', status: 200, result: 'sent 70000 bytes' });
      expect(ev.detail).toMatchObject({ clientPort: c.port, mode: 'octet', options: {}, outcome: 'complete', bytes: 70_000, blksize: 512, windowsize: 1, retransmits: 0 });
      expect(typeof ev.detail.durationMs).toBe('number');
      expect(server.counters).toMatchObject({ transfers: 1, completed: 1, bytes: 70_000, active: 0 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('options: OACK with accepted ones only, blksize clamped to the maximum, tsize answered', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, '/undionly.kpxe', [
        ['blksize', '65464'],
        ['tsize', '0'],
        ['multicast', ''],
        ['timeout', '300'],
      ]);
      expect(first.packet).toEqual({
        op: 'oack',
        options: [
          ['blksize', '1468'],
          ['tsize', '70000'],
        ],
      });
      await c.send(encodeAck(0), first.from.port);
      const d1 = await c.nextOf('data');
      expect(d1.packet.data.length).toBe(1468);
      expect(d1.from.port).toBe(first.from.port);
      const { data } = await download(c, d1, 1468);
      expect(data.equals(LOADER)).toBe(true);
      const ev = await sink.waitFor((e) => e.request === '/undionly.kpxe');
      expect(ev.detail).toMatchObject({ accepted: { blksize: '1468', tsize: '70000' }, blksize: 1468, outcome: 'complete' });
      expect((ev.detail.ignored as { name: string }[]).map((i) => i.name)).toEqual(['multicast', 'timeout']);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('windowsize 4: four blocks per ACK', async () => {
    const { server, port } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const oack = await rrq(c, port, 'undionly.kpxe', [
        ['blksize', '1024'],
        ['windowsize', '4'],
      ]);
      expect(oack.packet).toEqual({ op: 'oack', options: [['blksize', '1024'], ['windowsize', '4']] });
      await c.send(encodeAck(0), oack.from.port);
      const parts: Buffer[] = [];
      let done = false;
      while (!done) {
        let last = 0;
        for (let i = 0; i < 4 && !done; i++) {
          const d = await c.nextOf('data');
          parts.push(d.packet.data);
          last = d.packet.block;
          done = d.packet.data.length < 1024;
        }
        await c.send(encodeAck(last), oack.from.port);
      }
      expect(Buffer.concat(parts).equals(LOADER)).toBe(true);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('netascii mode converts line ends', async () => {
    const { server, port } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const { data } = await download(c, await rrq(c, port, 'text.cfg', [], 'netascii'));
      expect(data.toString('latin1')).toBe('a\r\nb\r\n');
    } finally {
      c.close();
      await server.close();
    }
  });

  it('blksize per client subnet: 127.0.0.0/8 capped at 600', async () => {
    const { server, port } = await startServer({ root, blksizeBySubnet: [{ cidr: '127.0.0.0/8', max: 600 }] });
    const c = await RawClient.open();
    try {
      const oack = await rrq(c, port, 'small.bin', [['blksize', '1468']]);
      expect(oack.packet).toEqual({ op: 'oack', options: [['blksize', '600']] });
    } finally {
      c.close();
      await server.close({ deadlineMs: 0 });
    }
  });

  it('noOptions: no OACK, DATA 1 of 512 bytes straight away', async () => {
    const { server, port, sink } = await startServer({ root, noOptions: true });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'undionly.kpxe', [
        ['blksize', '1468'],
        ['tsize', '0'],
      ]);
      expect(first.packet).toMatchObject({ op: 'data', block: 1 });
      const { data } = await download(c, first);
      expect(data.equals(LOADER)).toBe(true);
      const ev = await sink.waitFor((e) => e.request === 'undionly.kpxe');
      expect(ev.detail).toMatchObject({ accepted: {}, blksize: 512 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('singlePort: the transfer runs on the request port', async () => {
    const { server, port } = await startServer({ root, singlePort: true });
    const c = await RawClient.open();
    const other = await RawClient.open();
    try {
      const oack = await rrq(c, port, 'undionly.kpxe', [['blksize', '1468']]);
      expect(oack.from.port).toBe(port);
      await c.send(encodeAck(0), port);
      const d1 = await c.nextOf('data');
      expect(d1.from.port).toBe(port);
      // An ACK from an address with no transfer is a wrong TID here too.
      await other.send(encodeAck(1), port);
      expect((await other.nextOf('error')).packet.code).toBe(5);
      const { data } = await download(c, d1, 1468);
      expect(data.equals(LOADER)).toBe(true);
      expect(server.counters.wrongTid).toBe(1);
    } finally {
      c.close();
      other.close();
      await server.close();
    }
  });
});

describe('refusals and errors', () => {
  it('not found: error 1 as the first and only answer, logged', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const r = await rrq(c, port, 'missing.efi', [['tsize', '0']]);
      expect(r.packet).toEqual({ op: 'error', code: 1, message: 'File not found' });
      const ev = await sink.waitFor((e) => e.request === 'missing.efi');
      expect(ev).toMatchObject({ kind: 'tftp', status: 404, result: 'not found' });
      expect(server.counters.active).toBe(0);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('traversal: error 2', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      expect((await rrq(c, port, '../../etc/passwd')).packet).toMatchObject({ op: 'error', code: 2 });
      expect((await rrq(c, port, '..\\..\\etc\\passwd')).packet).toMatchObject({ op: 'error', code: 2 });
      expect((await sink.waitFor((e) => e.request === '../../etc/passwd')).status).toBe(403);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('write requests are refused with error 2', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      await c.send(encodeRequest('wrq', 'upload.bin', 'octet'), port);
      const r = await c.nextOf('error');
      expect(r.packet.code).toBe(2);
      expect(r.packet.message).toMatch(/read-only/);
      expect((await sink.waitFor((e) => e.request === 'upload.bin')).status).toBe(405);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('mail mode: error 4', async () => {
    const { server, port } = await startServer({ root });
    const c = await RawClient.open();
    try {
      expect((await rrq(c, port, 'small.bin', [], 'mail' as 'octet')).packet).toMatchObject({ op: 'error', code: 4 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('wrong TID: error 5 to the stranger, the transfer goes on', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const c = await RawClient.open();
    const stranger = await RawClient.open();
    try {
      const first = await rrq(c, port, 'undionly.kpxe');
      await stranger.send(encodeAck(1), first.from.port);
      const e = await stranger.nextOf('error');
      expect(e.packet).toEqual({ op: 'error', code: 5, message: 'Unknown transfer ID' });
      // An error from a stranger is not answered (no error loops), and not taken as the client's.
      await stranger.send(encodeError(0, 'go away'), first.from.port);
      const { data } = await download(c, first);
      expect(data.equals(LOADER)).toBe(true);
      await sink.waitFor((ev) => ev.request === 'undionly.kpxe');
      expect(server.counters.wrongTid).toBe(2);
      expect(server.counters.completed).toBe(1);
    } finally {
      c.close();
      stranger.close();
      await server.close();
    }
  });

  it('malformed packets are dropped and counted; the server keeps serving', async () => {
    const { server, port } = await startServer({ root, timeoutMs: 60_000 });
    const c = await RawClient.open();
    try {
      const garbage = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 9, 1, 2]), Buffer.from([0, 1, 65, 66]), Buffer.from('\0\x01a\0octet\0blksize\0'), Buffer.alloc(600, 0xff)];
      for (const g of garbage) await c.send(g, port);
      const first = await rrq(c, port, 'small.bin');
      expect(first.packet).toMatchObject({ op: 'data', block: 1 });
      // Garbage on the transfer port too.
      for (const g of garbage) await c.send(g, first.from.port);
      const { data } = await download(c, first);
      expect(data.equals(bytes(1000, 3))).toBe(true);
      expect(server.counters.malformed).toBeGreaterThanOrEqual(garbage.length + 4);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('over maxSessions: an error, not a fall-over; the running transfer completes', async () => {
    const { server, port, sink } = await startServer({ root, maxSessions: 1, timeoutMs: 60_000 });
    const a = await RawClient.open();
    const b = await RawClient.open();
    try {
      const first = await rrq(a, port, 'undionly.kpxe');
      const refused = await rrq(b, port, 'small.bin');
      expect(refused.packet).toMatchObject({ op: 'error', code: 0 });
      if (refused.packet.op === 'error') expect(refused.packet.message).toMatch(/busy/);
      expect((await sink.waitFor((e) => e.request === 'small.bin')).status).toBe(503);
      const { data } = await download(a, first);
      expect(data.equals(LOADER)).toBe(true);
      expect(server.counters.busy).toBe(1);
      // Room again, once the first transfer has ended.
      await sink.waitFor((e) => e.request === 'undionly.kpxe');
      const again = await rrq(b, port, 'small.bin');
      expect(again.packet).toMatchObject({ op: 'data', block: 1 });
      await download(b, again);
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });
});

describe('per-client limit', () => {
  it('one address cannot take every session by asking from many ports; others still get theirs', async () => {
    const { server, port, sink } = await startServer({ root, maxSessionsPerClient: 2, timeoutMs: 60_000 });
    const mine = await Promise.all([RawClient.open(), RawClient.open(), RawClient.open()]);
    try {
      const a = await rrq(mine[0]!, port, 'undionly.kpxe');
      const b = await rrq(mine[1]!, port, 'undionly.kpxe');
      const refused = await rrq(mine[2]!, port, 'small.bin');
      expect(refused.packet).toMatchObject({ op: 'error', code: 0 });
      if (refused.packet.op === 'error') expect(refused.packet.message).toMatch(/Too many transfers from 127\.0\.0\.1/);
      expect((await sink.waitFor((e) => e.request === 'small.bin')).detail).toMatchObject({ outcome: 'busy-client' });
      for (const [c, first] of [[mine[0]!, a], [mine[1]!, b]] as const) expect((await download(c, first)).data.equals(LOADER)).toBe(true);
      // Both ended: the address has room again.
      const done = (e: { request: string; status: number | null }) => e.request === 'undionly.kpxe' && e.status === 200;
      await sink.waitFor(() => sink.events.filter(done).length >= 2, 'both transfers ended');
      const again = await rrq(mine[2]!, port, 'small.bin');
      expect(again.packet).toMatchObject({ op: 'data', block: 1 });
      await download(mine[2]!, again);
    } finally {
      for (const c of mine) c.close();
      await server.close();
    }
  });
});

describe('retransmission', () => {
  it("duplicate ACKs never cause duplicate DATA (Sorcerer's Apprentice)", async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const c = await RawClient.open();
    try {
      const { data, blocks } = await download(c, await rrq(c, port, 'undionly.kpxe'), 512, true);
      expect(data.equals(LOADER)).toBe(true);
      // Each block exactly once, in order: a duplicate ACK answered with data would show here as a repeat.
      expect(blocks).toEqual(Array.from({ length: blocks.length }, (_, i) => i + 1));
      const ev = await sink.waitFor((e) => e.request === 'undionly.kpxe');
      expect(ev.detail).toMatchObject({ packets: blocks.length, retransmits: 0 });
      expect(ev.detail.staleAcks).toBeGreaterThan(0);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('a lost DATA is sent again after the timeout', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 20, retries: 5 });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'small.bin');
      // Pretend DATA 1 was lost: do not ACK, wait for it again.
      const again = await c.nextOf('data');
      expect(again.packet.block).toBe(1);
      const { data } = await download(c, again);
      expect(data.equals(bytes(1000, 3))).toBe(true);
      expect(first.from.port).toBe(again.from.port);
      const ev = await sink.waitFor((e) => e.request === 'small.bin');
      expect(ev.detail.retransmits as number).toBeGreaterThanOrEqual(1);
    } finally {
      c.close();
      await server.close();
    }
  });

  it('a client slower than one packet per timeout but faster than the timeout gets no retransmission', async () => {
    // The retransmission deadline moves with every packet sent: 4 ACKs 300 ms apart
    // span more than the 1 s timeout, and none of them is late.
    const { server, port, sink } = await startServer({ root, timeoutMs: 1000 });
    const c = await RawClient.open();
    try {
      let r = await rrq(c, port, 'small.bin', [['blksize', '256']]);
      expect(r.packet.op).toBe('oack');
      const tid = r.from.port;
      await c.send(encodeAck(0), tid);
      const blocks: number[] = [];
      for (;;) {
        r = await c.next('DATA');
        if (r.packet.op !== 'data') throw new Error(`expected DATA, got ${r.packet.op}`);
        blocks.push(r.packet.block);
        await new Promise((ok) => setTimeout(ok, 300));
        await c.send(encodeAck(r.packet.block), tid);
        if (r.packet.data.length < 256) break;
      }
      expect(blocks).toEqual([1, 2, 3, 4]);
      const ev = await sink.waitFor((e) => e.request === 'small.bin');
      expect(ev.detail).toMatchObject({ outcome: 'complete', retransmits: 0, packets: 5 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('every transfer socket is closed when its transfer ends, after its last packet', async () => {
    const made: Socket[] = [];
    const closed = new Set<Socket>();
    const { server, port, sink } = await startServer({
      root,
      createSocket: (type) => {
        const sock = createSocket(type);
        made.push(sock);
        sock.on('close', () => closed.add(sock));
        return sock;
      },
    });
    const c = await RawClient.open();
    try {
      for (let i = 0; i < 3; i++) {
        const { data } = await download(c, await rrq(c, port, 'small.bin'));
        expect(data.equals(bytes(1000, 3))).toBe(true);
        await sink.waitFor((e) => e.request === 'small.bin' && sink.events.filter((x) => x.request === 'small.bin').length === i + 1);
      }
      // made[0] is the request socket; the three transfer sockets close within the loop turn after their last packet.
      await new Promise((ok) => setImmediate(ok));
      await new Promise((ok) => setImmediate(ok));
      expect(made.length).toBe(4);
      expect(made.slice(1).every((s) => closed.has(s))).toBe(true);
      expect(closed.has(made[0]!)).toBe(false);
      expect(server.counters).toMatchObject({ active: 0, completed: 3 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('lost final ACK: the session ends after the retries and is logged as unconfirmed', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 10, retries: 2 });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'small.bin');
      await c.send(encodeAck(1), first.from.port);
      const last = await c.nextOf('data');
      expect(last.packet.block).toBe(2);
      // The client never acknowledges block 2.
      const ev = await sink.waitFor((e) => e.request === 'small.bin');
      expect(ev).toMatchObject({ status: 200, result: 'sent 1000 bytes, last ACK never came' });
      expect(ev.detail).toMatchObject({ outcome: 'unconfirmed' });
      expect(server.counters).toMatchObject({ active: 0, failed: 1 });
    } finally {
      c.close();
      await server.close();
    }
  });

  it('a client that stops mid-transfer times out after the retries', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 10, retries: 1 });
    const c = await RawClient.open();
    try {
      await rrq(c, port, 'undionly.kpxe');
      const ev = await sink.waitFor((e) => e.request === 'undionly.kpxe');
      expect(ev).toMatchObject({ status: 408, result: 'timeout after 0 acknowledged block(s)' });
      expect(server.counters.active).toBe(0);
    } finally {
      c.close();
      await server.close();
    }
  });
});

describe('the next request from the same port', () => {
  it('while the last ACK of the previous file was lost: the new file is served at once', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'small.bin');
      await c.send(encodeAck(1), first.from.port);
      expect((await c.nextOf('data')).packet.block).toBe(2);
      // Final ACK "lost"; the firmware asks for its next file from the same port.
      const next = await rrq(c, port, 'undionly.kpxe');
      expect(next.packet).toMatchObject({ op: 'data', block: 1 });
      expect(next.from.port).not.toBe(first.from.port);
      const { data } = await download(c, next);
      expect(data.equals(LOADER)).toBe(true);
      expect((await sink.waitFor((e) => e.request === 'small.bin')).detail.outcome).toBe('unconfirmed');
      expect((await sink.waitFor((e) => e.request === 'undionly.kpxe')).detail.outcome).toBe('complete');
    } finally {
      c.close();
      await server.close();
    }
  });

  it('the same request again mid-transfer is a duplicate: ignored, the transfer goes on', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const c = await RawClient.open();
    try {
      const first = await rrq(c, port, 'undionly.kpxe');
      await c.send(encodeRequest('rrq', 'undionly.kpxe', 'octet'), port);
      const { data, blocks } = await download(c, first);
      expect(data.equals(LOADER)).toBe(true);
      expect(blocks[1]).toBe(2);
      expect((await sink.waitFor((e) => e.request === 'undionly.kpxe')).detail.outcome).toBe('complete');
      expect(sink.events).toHaveLength(1);
    } finally {
      c.close();
      await server.close();
    }
  });
});

describe('clients that do not understand OACK', () => {
  it('repeating the request after the OACK went unanswered gets the file without options, and so does its next request', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 20, retries: 10 });
    const c = await RawClient.open();
    try {
      const oack = await rrq(c, port, 'undionly.kpxe', [['blksize', '1468']]);
      expect(oack.packet.op).toBe('oack');
      // Ignore it; after the server has sent it again (a whole timeout passed), repeat the request, twice.
      expect((await c.next('OACK retransmission')).packet.op).toBe('oack');
      await c.send(encodeRequest('rrq', 'undionly.kpxe', 'octet', [['blksize', '1468']]), port);
      await c.send(encodeRequest('rrq', 'undionly.kpxe', 'octet', [['blksize', '1468']]), port);
      let first = await c.next('DATA 1 after the repeated request');
      while (first.packet.op === 'oack') first = await c.next('DATA 1 after the repeated request');
      expect(first.packet).toMatchObject({ op: 'data', block: 1 });
      const { data } = await download(c, first);
      expect(data.equals(LOADER)).toBe(true);
      const ev = await sink.waitFor((e) => e.request === 'undionly.kpxe');
      expect(ev.detail).toMatchObject({ oackIgnored: true, blksize: 512, outcome: 'complete' });

      // The same machine asks again from a new port (firmware retry): no OACK this time.
      const c2 = await RawClient.open();
      try {
        const r = await rrq(c2, port, 'small.bin', [['blksize', '1468']]);
        expect(r.packet).toMatchObject({ op: 'data', block: 1 });
        await download(c2, r);
        const ev2 = await sink.waitFor((e) => e.request === 'small.bin');
        expect(ev2.detail.optionsSuppressed).toMatch(/ignored or refused an OACK/);
      } finally {
        c2.close();
      }
    } finally {
      c.close();
      await server.close();
    }
  });

  it('a client answering the OACK with error 8 ends that transfer; its retry without options works', async () => {
    const { server, port, sink } = await startServer({ root });
    const c = await RawClient.open();
    try {
      const oack = await rrq(c, port, 'small.bin', [['blksize', '1468']]);
      await c.send(encodeError(8, 'options refused'), oack.from.port);
      const ev = await sink.waitFor((e) => e.request === 'small.bin');
      expect(ev).toMatchObject({ status: 499, result: 'client error 8: options refused' });
      const r = await rrq(c, port, 'small.bin');
      expect(r.packet).toMatchObject({ op: 'data', block: 1 });
      const { data } = await download(c, r);
      expect(data.equals(bytes(1000, 3))).toBe(true);
      // Remembered: the same address asking with options again gets none for a while.
      const c2 = await RawClient.open();
      try {
        expect((await rrq(c2, port, 'small.bin', [['blksize', '1468']])).packet).toMatchObject({ op: 'data', block: 1 });
      } finally {
        c2.close();
      }
    } finally {
      c.close();
      await server.close();
    }
  });
});

it('any other error answering the OACK (a client giving up) does not cost the address its options', async () => {
  const { server, port, sink } = await startServer({ root });
  const a = await RawClient.open();
  const b = await RawClient.open();
  try {
    const oack = await rrq(a, port, 'small.bin', [['blksize', '1468']]);
    await a.send(encodeError(0, 'user abort'), oack.from.port);
    await sink.waitFor((e) => e.request === 'small.bin');
    const again = await rrq(b, port, 'small.bin', [['blksize', '1468']]);
    expect(again.packet).toEqual({ op: 'oack', options: [['blksize', '1468']] });
  } finally {
    a.close();
    b.close();
    await server.close({ deadlineMs: 0 });
  }
});

describe('listening', () => {
  it('a taken port fails with the explained bind error', async () => {
    const holder: Socket = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
    const taken = holder.address().port;
    try {
      const s = createTftpServer({ root, host: '127.0.0.1', port: taken, log: silentLogger });
      const err = await s.listen().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TftpBindError);
      expect((err as TftpBindError).code).toBe('EADDRINUSE');
      expect((err as Error).message).toMatch(new RegExp(`udp/${taken}: address already in use.*ss -lnpu`));
    } finally {
      holder.close();
    }
  });

  it('no permission for the port: the fallback port, with a log line saying why', async () => {
    const { log, lines } = captureLogger();
    // The bind of the privileged port is refused as it would be for a non-root user.
    const createSocketSeam = (type: 'udp4' | 'udp6') => {
      const sock = createSocket(type);
      const bind = sock.bind.bind(sock) as (...a: unknown[]) => Socket;
      (sock as unknown as { bind: (...a: unknown[]) => Socket }).bind = (...args: unknown[]) => {
        const o = args[0] as { port?: number };
        if (typeof o === 'object' && o.port === 69) {
          const e = Object.assign(new Error('bind EACCES 127.0.0.1:69'), { code: 'EACCES', errno: -13, syscall: 'bind' });
          process.nextTick(() => sock.emit('error', e));
          return sock;
        }
        return bind(...args);
      };
      return sock;
    };
    const s = createTftpServer({ root, host: '127.0.0.1', port: 69, fallbackPort: 0, log, createSocket: createSocketSeam });
    try {
      const r = await s.listen();
      expect(r.fallback).toBe(true);
      expect(r.port).not.toBe(69);
      const warn = lines().find((l) => l.level === 40);
      expect(warn?.msg).toMatch(/instead of port 69: udp\/69: permission denied \(ports below 1024 need root or CAP_NET_BIND_SERVICE/);
      // And it serves there.
      const c = await RawClient.open();
      try {
        expect((await rrq(c, r.port, 'small.bin')).packet).toMatchObject({ op: 'data', block: 1 });
      } finally {
        c.close();
      }
    } finally {
      await s.close({ deadlineMs: 0 });
    }
  });

  it('no permission and no fallback: the explained error', async () => {
    const s = createTftpServer({
      root,
      host: '127.0.0.1',
      port: 69,
      log: silentLogger,
      createSocket: (type) => {
        const sock = createSocket(type);
        (sock as unknown as { bind: () => Socket }).bind = () => {
          process.nextTick(() => sock.emit('error', Object.assign(new Error('bind EACCES'), { code: 'EACCES' })));
          return sock;
        };
        return sock;
      },
    });
    await expect(s.listen()).rejects.toThrow(/TFTP: udp\/69: permission denied/);
  });

  it('says which port it is on and why', async () => {
    const { log, lines } = captureLogger();
    const s = createTftpServer({ root, host: '127.0.0.1', port: 0, log });
    const { port } = await s.listen();
    await s.close();
    expect(lines().find((l) => l.level === 30)?.msg).toBe(`TFTP listening on 127.0.0.1:${port} (a port per transfer), serving ${root} — not port 69: only clients told this port will reach it`);
  });

  it('bad settings are refused at once, all named', () => {
    expect(() => createTftpServer({ root, log: silentLogger, blksizeMax: 4, retries: -1, blksizeBySubnet: [{ cidr: 'x', max: 512 }] })).toThrow(/blksizeMax 4 is not 8–65464; retries -1 is not 0–100; blksize rule "x"/);
  });
});

describe('close', () => {
  it('waits for a running transfer, refusing new requests meanwhile', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const a = await RawClient.open();
    const b = await RawClient.open();
    try {
      const first = await rrq(a, port, 'undionly.kpxe');
      const closed = server.close({ deadlineMs: 60_000 });
      const refused = await rrq(b, port, 'small.bin');
      expect(refused.packet).toMatchObject({ op: 'error', code: 0, message: 'Server shutting down, try again' });
      const { data } = await download(a, first);
      expect(data.equals(LOADER)).toBe(true);
      await closed;
      expect((await sink.waitFor((e) => e.request === 'undionly.kpxe')).detail.outcome).toBe('complete');
    } finally {
      a.close();
      b.close();
    }
  });

  it('aborts what is still running at the deadline, telling the client', async () => {
    const { server, port, sink } = await startServer({ root, timeoutMs: 60_000 });
    const a = await RawClient.open();
    try {
      await rrq(a, port, 'undionly.kpxe');
      await server.close({ deadlineMs: 1 });
      const e = await a.nextOf('error');
      expect(e.packet).toEqual({ op: 'error', code: 0, message: 'Server shutting down' });
      expect((await sink.waitFor((x) => x.request === 'undionly.kpxe')).detail.outcome).toBe('aborted');
      expect(server.counters.active).toBe(0);
    } finally {
      a.close();
    }
  });
});

// The opcode table is what goes on the wire; a typo here would break every client.
it('opcodes are RFC 1350/2347 numbers', () => {
  expect(OP).toEqual({ RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 });
});

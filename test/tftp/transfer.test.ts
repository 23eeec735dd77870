/**
 * The transfer state machine driven by hand: no sockets, no clock. Each test
 * says which packets arrive and which timeouts fire, and checks exactly what
 * was sent.
 */
import { describe, expect, it } from 'vitest';
import { decodePacket, type Packet } from '../../src/tftp/packet.js';
import { Transfer, type Outcome, type TransferParams } from '../../src/tftp/transfer.js';

function harness(size: number, p: Partial<TransferParams> = {}) {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 0xff;
  const sent: Packet[] = [];
  let armed: number | null = null;
  let outcome: Outcome | null = null;
  let doneCalls = 0;
  const t = new Transfer(
    {
      source: { size, read: (o, l) => data.subarray(o, o + l) },
      blksize: 512,
      windowsize: 1,
      timeoutMs: 1000,
      retries: 3,
      oack: null,
      fallback: { blksize: 512, windowsize: 1, timeoutMs: 1000 },
      ...p,
    },
    {
      send: (parts) => {
        const d = decodePacket(Buffer.concat(parts));
        if (!d.ok) throw new Error(d.reason);
        sent.push(d.packet);
      },
      arm: (ms) => {
        armed = ms;
      },
      disarm: () => {
        armed = null;
      },
      done: (o) => {
        outcome = o;
        doneCalls++;
      },
    },
  );
  const take = () => sent.splice(0, sent.length);
  const blocks = () => take().map((x) => (x.op === 'data' ? x.block : `${x.op}`));
  return {
    t,
    data,
    take,
    blocks,
    get armed() {
      return armed;
    },
    get outcome() {
      return outcome;
    },
    get doneCalls() {
      return doneCalls;
    },
  };
}

/** Acknowledges each DATA as it comes until the transfer ends; returns the bytes received. */
function drain(h: ReturnType<typeof harness>, first: Packet[]): Buffer {
  const parts: Buffer[] = [];
  let queue = first;
  while (queue.length) {
    const p = queue.shift()!;
    if (p.op !== 'data') throw new Error(`unexpected ${p.op}`);
    parts.push(p.data);
    h.t.onAck(p.block);
    queue = queue.concat(h.take());
  }
  return Buffer.concat(parts);
}

describe('Transfer without options (RFC 1350)', () => {
  it('sends block by block and completes on the ACK of the short last block', () => {
    const h = harness(1300);
    h.t.start();
    const first = h.take();
    expect(first.map((p) => p.op === 'data' && [p.block, p.data.length])).toEqual([[1, 512]]);
    expect(h.armed).toBe(1000);
    expect(drain(h, first)).toEqual(h.data);
    expect(h.outcome).toEqual({ kind: 'complete' });
    expect(h.armed).toBeNull();
    expect(h.t.bytesAcked).toBe(1300);
  });

  it('a size that is a multiple of blksize ends with an empty block', () => {
    const h = harness(1024);
    h.t.start();
    const got: number[] = [];
    let q = h.take();
    while (q.length) {
      const p = q.shift()!;
      if (p.op === 'data') {
        got.push(p.data.length);
        h.t.onAck(p.block);
      }
      q = q.concat(h.take());
    }
    expect(got).toEqual([512, 512, 0]);
    expect(h.outcome).toEqual({ kind: 'complete' });
  });

  it('an empty file is one empty block', () => {
    const h = harness(0);
    h.t.start();
    expect(h.take()).toEqual([{ op: 'data', block: 1, data: Buffer.alloc(0) }]);
    h.t.onAck(1);
    expect(h.outcome).toEqual({ kind: 'complete' });
  });
});

describe("Sorcerer's Apprentice (RFC 1123 §4.2.3.1)", () => {
  it('duplicate ACKs send nothing; only the timer retransmits', () => {
    const h = harness(5000);
    h.t.start();
    expect(h.blocks()).toEqual([1]);
    h.t.onAck(1);
    expect(h.blocks()).toEqual([2]);
    // The ACK of block 1 arrives again (delayed duplicate): nothing is sent.
    h.t.onAck(1);
    h.t.onAck(1);
    expect(h.blocks()).toEqual([]);
    expect(h.t.staleAcks).toBe(2);
    h.t.onAck(2);
    expect(h.blocks()).toEqual([3]);
    // An ACK for a block never sent is ignored as well.
    h.t.onAck(9);
    expect(h.blocks()).toEqual([]);
    h.t.onTimeout();
    expect(h.blocks()).toEqual([3]);
    expect(h.t.retransmits).toBe(1);
  });
});

describe('retransmission', () => {
  it('bounded: after `retries` timeouts without progress the transfer ends', () => {
    const h = harness(5000, { retries: 2 });
    h.t.start();
    h.t.onAck(1);
    h.take();
    h.t.onTimeout();
    h.t.onTimeout();
    expect(h.blocks()).toEqual([2, 2]);
    h.t.onTimeout();
    expect(h.blocks()).toEqual([]);
    expect(h.outcome).toEqual({ kind: 'timeout', phase: 'data', lastAcked: 1 });
    expect(h.armed).toBeNull();
    // Late packets after the end change nothing and done is not called twice.
    h.t.onAck(2);
    h.t.onTimeout();
    expect(h.blocks()).toEqual([]);
    expect(h.doneCalls).toBe(1);
  });

  it('progress resets the retry count', () => {
    const h = harness(5000, { retries: 1 });
    h.t.start();
    h.t.onTimeout();
    h.t.onAck(1);
    h.t.onTimeout();
    h.t.onAck(2);
    expect(h.outcome).toBeNull();
  });

  it('lost final ACK: the session ends after the retries, as "unconfirmed", and nothing leaks', () => {
    const h = harness(600, { retries: 2 });
    h.t.start();
    expect(h.blocks()).toEqual([1]);
    h.t.onAck(1);
    expect(h.blocks()).toEqual([2]);
    h.t.onTimeout();
    h.t.onTimeout();
    h.t.onTimeout();
    expect(h.blocks()).toEqual([2, 2]);
    expect(h.outcome).toEqual({ kind: 'unconfirmed' });
    expect(h.armed).toBeNull();
    expect(h.t.state).toBe('done');
  });
});

describe('OACK (RFC 2347)', () => {
  it('OACK first, DATA 1 only after ACK 0, with the negotiated blksize', () => {
    const h = harness(3000, { blksize: 1468, oack: [['blksize', '1468']] });
    h.t.start();
    expect(h.take()).toEqual([{ op: 'oack', options: [['blksize', '1468']] }]);
    h.t.onAck(1); // not ACK 0: ignored
    expect(h.take()).toEqual([]);
    h.t.onAck(0);
    const first = h.take();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ op: 'data', block: 1 });
    expect(drain(h, first)).toEqual(h.data);
    // A duplicate ACK 0 after data began sends nothing.
    expect(h.outcome).toEqual({ kind: 'complete' });
  });

  it('duplicate ACK 0 once data flows is ignored', () => {
    const h = harness(3000, { oack: [['tsize', '3000']] });
    h.t.start();
    h.t.onAck(0);
    expect(h.blocks()).toEqual(['oack', 1]);
    h.t.onAck(0);
    expect(h.blocks()).toEqual([]);
  });

  it('OACK is retransmitted on timeout and the transfer gives up after the retries', () => {
    const h = harness(3000, { oack: [['tsize', '3000']], retries: 1 });
    h.t.start();
    h.t.onTimeout();
    h.t.onTimeout();
    expect(h.blocks()).toEqual(['oack', 'oack']);
    expect(h.outcome).toEqual({ kind: 'timeout', phase: 'oack', lastAcked: 0 });
  });

  it('a client that ignores the OACK and keeps repeating its request gets the file with RFC 1350 defaults', () => {
    const h = harness(3000, { blksize: 1468, windowsize: 4, oack: [['blksize', '1468'], ['windowsize', '4']] });
    h.t.start();
    // A copy of the request right behind the first is a network duplicate: ignored.
    h.t.onRequestRepeated();
    expect(h.blocks()).toEqual(['oack']);
    h.t.onTimeout();
    expect(h.blocks()).toEqual(['oack']);
    // Repeated once after a whole timeout: maybe a slow client that has our OACK by now. Nothing sent, still waiting.
    h.t.onRequestRepeated();
    expect(h.blocks()).toEqual([]);
    expect(h.t.oackIgnored).toBe(false);
    // Repeated again without ACK 0: the client does not speak options.
    h.t.onRequestRepeated();
    const first = h.take();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ op: 'data', block: 1 });
    if (first[0]!.op === 'data') expect(first[0]!.data.length).toBe(512);
    expect(drain(h, first)).toEqual(h.data);
    expect(h.t.oackIgnored).toBe(true);
    expect(h.t.params).toEqual({ blksize: 512, windowsize: 1, timeoutMs: 1000 });
  });

  it('error 8 from the client ends the transfer (RFC 2347)', () => {
    const h = harness(3000, { oack: [['blksize', '1468']], blksize: 1468 });
    h.t.start();
    h.t.onError(8, 'bad option');
    expect(h.outcome).toEqual({ kind: 'client-error', phase: 'oack', code: 8, message: 'bad option' });
  });
});

describe('windowsize (RFC 7440)', () => {
  it('sends a window, advances on the ACK of its last block', () => {
    const h = harness(512 * 10 + 1, { windowsize: 4, oack: [['windowsize', '4']] });
    h.t.start();
    h.t.onAck(0);
    expect(h.blocks()).toEqual(['oack', 1, 2, 3, 4]);
    h.t.onAck(4);
    expect(h.blocks()).toEqual([5, 6, 7, 8]);
    h.t.onAck(8);
    expect(h.blocks()).toEqual([9, 10, 11]);
    h.t.onAck(11);
    expect(h.outcome).toEqual({ kind: 'complete' });
    expect(h.t.retransmits).toBe(0);
  });

  it('an ACK inside the window restarts the window after it; duplicates of it send nothing', () => {
    const h = harness(512 * 20, { windowsize: 4 });
    h.t.start();
    expect(h.blocks()).toEqual([1, 2, 3, 4]);
    // Block 3 was lost: the client acknowledges 2.
    h.t.onAck(2);
    expect(h.blocks()).toEqual([3, 4, 5, 6]);
    expect(h.t.retransmits).toBe(2);
    h.t.onAck(2);
    expect(h.blocks()).toEqual([]);
    h.t.onTimeout();
    expect(h.blocks()).toEqual([3, 4, 5, 6]);
  });
});

describe('block numbers past 65535', () => {
  it('wrap to 0 and the whole file arrives', () => {
    const blksize = 8;
    const size = blksize * 70000 + 3;
    const h = harness(size, { blksize, windowsize: 16, oack: [['blksize', '8']] });
    h.t.start();
    h.take();
    h.t.onAck(0);
    const parts: Buffer[] = [];
    const seen = new Set<number>();
    let q = h.take();
    while (q.length) {
      const batch = q;
      q = [];
      for (const p of batch) {
        if (p.op !== 'data') throw new Error(p.op);
        parts.push(p.data);
        seen.add(p.block);
      }
      const last = batch[batch.length - 1]!;
      if (last.op === 'data') h.t.onAck(last.block);
      q = h.take();
    }
    expect(Buffer.concat(parts)).toEqual(h.data);
    expect(seen.has(0)).toBe(true);
    expect(h.outcome).toEqual({ kind: 'complete' });
  });
});

describe('supersede (a new request from the same client port)', () => {
  it('after every block was sent: unconfirmed; before: superseded; nothing sent', () => {
    const a = harness(600);
    a.t.start();
    a.t.onAck(1);
    expect(a.blocks()).toEqual([1, 2]);
    expect(a.t.allSent).toBe(true);
    a.t.supersede();
    expect(a.outcome).toEqual({ kind: 'unconfirmed' });
    expect(a.take()).toEqual([]);
    const b = harness(5000);
    b.t.start();
    expect(b.t.allSent).toBe(false);
    b.t.supersede();
    expect(b.outcome).toEqual({ kind: 'superseded' });
    expect(b.armed).toBeNull();
  });
});

describe('abort', () => {
  it('tells the client with an error and ends once', () => {
    const h = harness(3000);
    h.t.start();
    h.take();
    h.t.abort('Server shutting down');
    expect(h.take()).toEqual([{ op: 'error', code: 0, message: 'Server shutting down' }]);
    expect(h.outcome).toEqual({ kind: 'aborted', reason: 'Server shutting down' });
    h.t.abort('again');
    expect(h.take()).toEqual([]);
    expect(h.doneCalls).toBe(1);
  });
});

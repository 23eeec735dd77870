/**
 * DISCOVER load for bench/dhcp, run inside its own network namespace so it
 * owns UDP 68 and receives the broadcast offers. `clients` loops each keep one
 * DISCOVER outstanding (BIOS PXE 2.1 form, a fresh xid and a MAC from a large
 * pool each time) and time send → offer. Prints JSON lines: measure-start,
 * then result.
 *   node --import tsx bench/dhcp/loadgen.ts SERVER_IP CLIENTS WARMUP_S SECONDS
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [server = '10.95.0.1', clientsArg = '16', warmArg = '1', secsArg = '10'] = process.argv.slice(2);
const clients = Number(clientsArg);
const warmMs = Number(warmArg) * 1000;
const measureMs = Number(secsArg) * 1000;
const TIMEOUT_MS = 250;
const MAC_POOL = 1 << 16;

// One DISCOVER template (RFC 2131 header + PXE client options); xid and chaddr are patched per send.
function template(): Buffer {
  const b = Buffer.alloc(400);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt16BE(0x8000, 10);
  b.writeUInt32BE(0x63825363, 236);
  const opts: [number, number[] | string][] = [
    [53, [1]],
    [57, [0x04, 0xec]],
    [93, [0, 0]],
    [94, [1, 2, 1]],
    [97, [0, ...randomBytes(16)]],
    [60, 'PXEClient:Arch:00000:UNDI:002001'],
    [55, [1, 3, 43, 54, 60, 66, 67, 97]],
  ];
  let i = 240;
  for (const [code, v] of opts) {
    const val = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v);
    b[i++] = code;
    b[i++] = val.length;
    val.copy(b, i);
    i += val.length;
  }
  b[i] = 255;
  return b.subarray(0, Math.max(300, i + 1));
}

const sock = dgram.createSocket({ type: 'udp4' });
const pending = new Map<number, { slot: number; at: bigint }>();
const latencies: number[] = [];
let measuring = false;
let done = false;
let answered = 0;
let lost = 0;
let sent = 0;
let macSeq = 0;
let xidSeq = (randomBytes(4).readUInt32BE(0) & 0x7fffffff) >>> 0;
const bufs = Array.from({ length: clients }, template);
const timers: (NodeJS.Timeout | null)[] = new Array(clients).fill(null);

function fire(slot: number): void {
  if (done) return;
  const b = bufs[slot]!;
  const xid = (xidSeq = (xidSeq + 1) >>> 0);
  b.writeUInt32BE(xid, 4);
  const m = macSeq++ % MAC_POOL;
  b[28] = 0x02;
  b[29] = 0xcb;
  b[30] = slot & 0xff;
  b[31] = 0;
  b[32] = m >> 8;
  b[33] = m & 0xff;
  pending.set(xid, { slot, at: process.hrtime.bigint() });
  if (measuring) sent++;
  sock.send(b, 67, '255.255.255.255');
  timers[slot] = setTimeout(() => {
    if (pending.delete(xid)) {
      if (measuring) lost++;
      fire(slot);
    }
  }, TIMEOUT_MS);
}

sock.on('message', (msg) => {
  if (msg.length < 240 || msg[0] !== 2) return;
  const xid = msg.readUInt32BE(4);
  const p = pending.get(xid);
  if (!p) return;
  pending.delete(xid);
  clearTimeout(timers[p.slot]!);
  if (measuring) {
    answered++;
    latencies.push(Number(process.hrtime.bigint() - p.at) / 1e6);
  }
  fire(p.slot);
});

sock.bind(68, '0.0.0.0', () => {
  sock.setBroadcast(true);
  for (let s = 0; s < clients; s++) fire(s);
  setTimeout(() => {
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify({ type: 'measure-start' }) + '\n');
    setTimeout(() => {
      measuring = false;
      done = true;
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      latencies.sort((a, b) => a - b);
      const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? NaN;
      process.stdout.write(
        JSON.stringify({ type: 'result', clients, seconds: elapsed, sent, answered, lost, perSecond: answered / elapsed, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN, loadgenCpuPct: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100 }) + '\n',
      );
      for (const t of timers) if (t) clearTimeout(t);
      sock.close();
    }, measureMs);
  }, warmMs);
});

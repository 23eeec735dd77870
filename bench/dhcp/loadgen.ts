/**
 * DISCOVER load for bench/dhcp, run inside its own network namespace so it
 * owns UDP 68 and receives the broadcast offers. `clients` loops each keep one
 * DISCOVER outstanding (BIOS PXE 2.1 form, a fresh xid and a MAC from a large
 * pool each time) and time send → offer. Prints JSON lines: measure-start,
 * then result.
 *   node --import tsx bench/dhcp/loadgen.ts SERVER_IP CLIENTS WARMUP_S SECONDS [REPEAT]
 *
 * MACs: 02:cb:SS:00:HH:LL, SS the slot, HHLL one counter over all slots
 * (mod 65,536): every DISCOVER is a new MAC with a fresh xid, as in a mass
 * power-on where each packet is a machine's first. With REPEAT > 1 a slot
 * sends each MAC's DISCOVER REPEAT times with the same xid (as firmware
 * retransmits one when no boot file arrives; back to back here, not 4, 8,
 * 16 s apart) before the next MAC.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [server = '10.95.0.1', clientsArg = '16', warmArg = '1', secsArg = '10', repeatArg = '1'] = process.argv.slice(2);
const repeat = Math.max(1, Number(repeatArg));
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

// The destination is a literal: resolve it in place (dgram's default dns.lookup defers every send by a tick).
const sock = dgram.createSocket({ type: 'udp4', lookup: (address, _family, cb) => cb(null, address, 4) });
/*
 * Per-slot state in flat arrays, no timer per DISCOVER: the generator's own
 * cost per request must stay well under the server's, or it measures itself.
 * A slot's xid carries the slot in its low byte (clients ≤ 256), so an offer
 * finds its slot without a Map; one sweep every 10 ms retries the DISCOVERs
 * that waited longer than TIMEOUT_MS.
 */
if (clients < 1 || clients > 256) throw new Error('clients must be 1–256');
const slotXid = new Float64Array(clients).fill(-1);
const slotAt = new Float64Array(clients);
/** Sends left of the current MAC's DISCOVER (REPEAT): the slot's buffer keeps its MAC and xid until 0. */
const slotLeft = new Uint8Array(clients);
const latencies: number[] = [];
let measuring = false;
let done = false;
let answered = 0;
let lost = 0;
let sent = 0;
let macSeq = 0;
let xidSeq = randomBytes(4).readUInt32BE(0) >>> 8;
const bufs = Array.from({ length: clients }, template);

function fire(slot: number): void {
  if (done) return;
  const b = bufs[slot]!;
  if (slotLeft[slot] === 0) {
    xidSeq = (xidSeq + 1) & 0xffffff;
    b.writeUInt32BE(((xidSeq << 8) | slot) >>> 0, 4);
    const m = macSeq++ % MAC_POOL;
    b[28] = 0x02;
    b[29] = 0xcb;
    b[30] = slot & 0xff;
    b[31] = 0;
    b[32] = m >> 8;
    b[33] = m & 0xff;
    slotLeft[slot] = repeat;
  }
  slotLeft[slot]!--;
  const xid = b.readUInt32BE(4);
  slotXid[slot] = xid;
  slotAt[slot] = performance.now();
  if (measuring) sent++;
  sock.send(b, 67, '255.255.255.255');
}

const sweeper = setInterval(() => {
  const now = performance.now();
  for (let s = 0; s < clients; s++) {
    if (slotXid[s]! >= 0 && now - slotAt[s]! > TIMEOUT_MS) {
      if (measuring) lost++;
      fire(s);
    }
  }
}, 10);

sock.on('message', (msg) => {
  if (msg.length < 240 || msg[0] !== 2) return;
  const xid = msg.readUInt32BE(4);
  const slot = xid & 0xff;
  if (slot >= clients || slotXid[slot] !== xid) return;
  slotXid[slot] = -1;
  if (measuring) {
    answered++;
    latencies.push(performance.now() - slotAt[slot]!);
  }
  fire(slot);
});

sock.bind(68, '0.0.0.0', () => {
  sock.setBroadcast(true);
  for (let s = 0; s < clients; s++) fire(s);
  setTimeout(() => {
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    process.stdout.write(JSON.stringify({ type: 'measure-start' }) + '\n');
    setTimeout(() => {
      measuring = false;
      done = true;
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      latencies.sort((a, b) => a - b);
      const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? NaN;
      process.stdout.write(
        JSON.stringify({ type: 'result', clients, seconds: elapsed, sent, answered, lost, perSecond: answered / elapsed, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN, loadgenCpuPct: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100 }) + '\n',
      );
      clearInterval(sweeper);
      sock.close();
    }, measureMs);
  }, warmMs);
});

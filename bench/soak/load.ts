/**
 * The soak's load generator: one process inside the load namespace that bench/soak/run.ts
 * creates, talking only to the server's address on the veth pair. It
 *
 *   1. waits for GET /healthz, then seeds through the admin API: profiles, a
 *      saved template, and `hosts` hosts (POST /api/v1/hosts, one by one);
 *   2. runs every load at a fixed rate, open loop (a tick that finds its
 *      load's in-flight cap reached is counted as `skipped`, not queued):
 *        dhcp    DISCOVERs (BIOS, UEFI x64, iPXE user class) broadcast to 67 from
 *                a pool of MACs far larger than the run, and REQUESTs unicast to 4011;
 *        tftp    batches of the C load generator (bench/tftp-load/loadgen.c),
 *                two loader files, blksize 512/1468, windowsize 1/4/8, every byte checked;
 *        render  GET /ipxe?mac=… for the seeded hosts (1 % unknown MACs, which
 *                register as discovered), /boot.ipxe, /hosts/<mac>/ks.cfg;
 *        range   GET /assets/… with single, suffix and multi ranges (single ranges
 *                checked byte for byte), If-None-Match → 304;
 *        stream  whole downloads of the asset (length checked) and downloads that
 *                the client aborts after a random number of bytes;
 *        api     PATCH hosts, GET hosts/events/search, save a template that renders
 *                use, assign a task and cancel it a few seconds later;
 *        health  GET /healthz on a connection of its own (its latency is the
 *                outside view of the event loop);
 *   3. answers each "snap" line on stdin with one JSON line: counts since the
 *      last snap per load (ok, err, skipped, latency p50/p99), the healthz
 *      latency, and a few values from GET /metrics when the server has it;
 *   4. on "stop" (or its own deadline), stops starting work, waits up to 15 s
 *      for what runs, prints a last snap and exits.
 *
 * usage (run.ts does this): node --import tsx bench/soak/load.ts '<json settings>'
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface LoadSettings {
  server: string;
  httpPort: number;
  token: string;
  hosts: number;
  /** Hard stop of this process (a guard: run.ts says "stop" before). */
  deadlineMs: number;
  rates: { dhcp: number; tftp: number; render: number; range: number; stream: number; abort: number; api: number; health: number };
  dhcpMacPool: number;
  tftp: { loadgen: string; files: { name: string; local: string }[]; batchSeconds: number; concurrency: number };
  asset: { path: string; local: string; size: number };
}

const S = JSON.parse(process.argv[2] ?? '{}') as LoadSettings;
const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');

// ---------------------------------------------------------------- statistics
interface Stat {
  ok: number;
  err: number;
  skipped: number;
  inflight: number;
  lat: number[];
  errors: Map<string, number>;
  bytes: number;
}
const TYPES = ['dhcp', 'tftp', 'render', 'range', 'stream', 'abort', 'api', 'health'] as const;
type Kind = (typeof TYPES)[number];
const stats = Object.fromEntries(TYPES.map((t): [Kind, Stat] => [t, { ok: 0, err: 0, skipped: 0, inflight: 0, lat: [], errors: new Map(), bytes: 0 }])) as Record<Kind, Stat>;
const totals = Object.fromEntries(TYPES.map((t) => [t, { ok: 0, err: 0, skipped: 0 }])) as Record<Kind, { ok: number; err: number; skipped: number }>;

function ok(k: Kind, ms?: number, bytes = 0): void {
  stats[k].ok++;
  totals[k].ok++;
  stats[k].bytes += bytes;
  if (ms !== undefined) stats[k].lat.push(ms);
}
function fail(k: Kind, why: string): void {
  stats[k].err++;
  totals[k].err++;
  // Bounded: the reason text is kept short and few distinct ones are expected.
  const key = why.slice(0, 120);
  if (stats[k].errors.size < 20 || stats[k].errors.has(key)) stats[k].errors.set(key, (stats[k].errors.get(key) ?? 0) + 1);
}
function skip(k: Kind): void {
  stats[k].skipped++;
  totals[k].skipped++;
}
const q = (xs: number[], f: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(f * xs.length))]! : null);
const round = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

// ---------------------------------------------------------------- HTTP
const base = `http://${S.server}:${S.httpPort}`;
// Idle sockets are closed after 3 s, before the server's 5 s keep-alive timeout: otherwise a request
// can go out on a connection the server is closing at that moment (ECONNRESET, a client-side race).
const agent = new http.Agent({ keepAlive: true, maxSockets: 16, timeout: 3000 });
const streamAgent = new http.Agent({ keepAlive: true, maxSockets: 8, timeout: 3000 });
const healthAgent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 3000 });

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
function req(method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent; timeoutMs?: number } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = http.request(base + path, { method, agent: opts.agent ?? agent, headers: { ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.setTimeout(opts.timeoutMs ?? 30_000, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end(opts.body);
  });
}
const auth = { authorization: `Bearer ${S.token}` };
const json = (o: unknown) => ({ headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(o) });
const api = (method: string, path: string, body?: unknown) => req(method, `/api/v1${path}`, body === undefined ? { headers: auth } : json(body));

// ---------------------------------------------------------------- seed
/** Locally administered MACs: 02:50:xx:xx:xx:xx for seeded hosts. */
const hostMac = (i: number) => `02:50:00:${[(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
const PROFILES = [
  { name: 'soak-web', kind: 'linux', kernel: 'soak/linux', initrds: ['soak/initrd.gz'], cmdline: 'hostname=<%= it.vars.hostname %> role=<%= it.vars.role %> console=ttyS0', variables: { role: 'web' } },
  { name: 'soak-db', kind: 'linux', kernel: 'soak/linux', initrds: ['soak/initrd.gz'], cmdline: 'quiet', variables: {} },
  { name: 'soak-ks', kind: 'linux', kernel: 'soak/vmlinuz', initrds: ['soak/initrd.img'], cmdline: 'inst.ks=<%= it.urls.file("ks.cfg") %>', files: { 'ks.cfg': 'kickstart/rhel.cfg' }, variables: {} },
  { name: 'soak-custom', kind: 'linux', kernel: 'soak/linux', initrds: ['soak/initrd.gz'], cmdline: 'quiet', bootTemplate: 'ipxe/soak.ipxe', variables: {} },
  { name: 'soak-task', kind: 'linux', kernel: 'soak/linux', initrds: ['soak/initrd.gz'], cmdline: 'soak-task', variables: {} },
];
let templateRevision = 0;
const templateBody = () => `#!ipxe
# chainboot soak template, revision ${++templateRevision}
imgfree
kernel <%~ it.profile.kernel %> initrd=initrd.gz <%~ it.profile.cmdline %> soak_rev=${templateRevision} || goto failed
<% it.profile.initrds.forEach((url, i) => { -%>
initrd --name <%= it.profile.initrdNames[i] %> <%~ url %> || goto failed
<% }) -%>
boot || goto failed
:failed
exit 1
`;
const profileFor = (i: number) => PROFILES[i % 4]!.name;

async function seed(): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await req('GET', '/healthz', { timeoutMs: 2000 });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > 60_000) throw new Error('server did not answer GET /healthz within 60 s');
    await sleep(250);
  }
  const check = (r: Res, want: number, what: string) => {
    if (r.status !== want) throw new Error(`seeding: ${what}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
  };
  check(await api('PUT', '/templates/ipxe/soak.ipxe', { body: templateBody(), comment: 'soak seed' }), 201, 'PUT template');
  for (const p of PROFILES) check(await api('POST', '/profiles', p), 201, `POST profile ${p.name}`);
  // The API, one host at a time (as an admin script would), a few at once.
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < S.hosts; i = next++) {
      const r = await api('POST', '/hosts', { mac: hostMac(i), hostname: `soak${String(i).padStart(5, '0')}`, profile: profileFor(i), labels: [`rack${i % 20}`], variables: { rack: i % 20 } });
      check(r, 201, `POST host ${hostMac(i)}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  say({ type: 'seeded', hosts: S.hosts, profiles: PROFILES.length, ms: Date.now() - t0 });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rnd = (n: number) => Math.floor(Math.random() * n);

// ---------------------------------------------------------------- loads
let stopping = false;
const timers: NodeJS.Timeout[] = [];
/** Calls fn `rate` times a second, open loop, up to `cap` at once. */
function every(k: Kind, rate: number, cap: number, fn: () => Promise<void>): void {
  if (!(rate > 0)) return;
  // Below one tick per 10 ms, the timer fires at the rate; above, several per tick. What is owed
  // follows the clock, so a late timer (a busy generator) does not lower the rate.
  const tickMs = Math.max(10, 1000 / rate);
  let owed = 0;
  let last = performance.now();
  timers.push(
    setInterval(() => {
      if (stopping) return;
      const now = performance.now();
      owed = Math.min(owed + ((now - last) * rate) / 1000, rate + 1);
      last = now;
      while (owed >= 1) {
        owed -= 1;
        if (stats[k].inflight >= cap) {
          skip(k);
          continue;
        }
        stats[k].inflight++;
        fn()
          .catch((e: unknown) => fail(k, (e as Error).message))
          .finally(() => stats[k].inflight--);
      }
    }, tickMs),
  );
}

// ---- render
let unknownSeq = 0;
async function render(): Promise<void> {
  const i = rnd(S.hosts);
  const mac = hostMac(i);
  const p = Math.random();
  const t0 = performance.now();
  if (p < 0.8) {
    // iPXE's own spelling (hexhyp); 1 % are machines nobody added.
    const m = Math.random() < 0.01 ? `02-51-${[(unknownSeq >> 16) & 0xff, (unknownSeq >> 8) & 0xff, unknownSeq++ & 0xff].map((x) => x.toString(16).padStart(2, '0')).join('-')}-00` : mac.replace(/:/g, '-');
    const r = await req('GET', `/ipxe?mac=${m}&uuid=${randomUuid(i)}&arch=x86_64&platform=${i % 2 ? 'efi' : 'pcbios'}&serial=S${i}&manufacturer=QEMU&product=Standard%20PC`);
    if (r.status !== 200 || !r.body.subarray(0, 6).equals(Buffer.from('#!ipxe'))) return fail('render', `ipxe ${r.status} ${r.body.subarray(0, 80).toString()}`);
  } else if (p < 0.9) {
    const r = await req('GET', '/boot.ipxe');
    if (r.status !== 200 || !r.body.includes('/ipxe?mac=')) return fail('render', `boot.ipxe ${r.status}`);
  } else {
    // A kickstart host (profile soak-ks is every 4th host, from index 2).
    const k = i - (i % 4) + 2 < S.hosts ? i - (i % 4) + 2 : 2;
    const r = await req('GET', `/hosts/${hostMac(k)}/ks.cfg`);
    if (r.status !== 200 || r.body.length < 20) return fail('render', `ks.cfg ${r.status} ${r.body.subarray(0, 80).toString()}`);
  }
  ok('render', performance.now() - t0);
}
const randomUuid = (i: number) => `${(0x10000000 + i).toString(16)}-0000-4000-8000-${String(i).padStart(12, '0')}`;

// ---- assets: ranges (checked against the local copy), whole streams, aborted streams
const assetFd = openSync(S.asset.local, 'r');
function localBytes(start: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) got += readSync(assetFd, b, got, len - got, start + got);
  return b;
}
let etag: string | undefined;
async function range(): Promise<void> {
  const size = S.asset.size;
  const path = `/assets/${S.asset.path}`;
  const p = Math.random();
  const t0 = performance.now();
  if (p < 0.7) {
    const len = 4096 + rnd(1 << 20);
    const start = rnd(size - len);
    const r = await req('GET', path, { headers: { range: `bytes=${start}-${start + len - 1}` }, agent: streamAgent });
    if (r.status !== 206) return fail('range', `single range ${r.status}`);
    if (r.headers['content-range'] !== `bytes ${start}-${start + len - 1}/${size}`) return fail('range', `content-range ${r.headers['content-range']}`);
    if (!r.body.equals(localBytes(start, len))) return fail('range', 'single range: bytes differ from the file');
    etag = (r.headers.etag as string | undefined) ?? etag;
    return ok('range', performance.now() - t0, r.body.length);
  }
  if (p < 0.8) {
    const len = 1 + rnd(65536);
    const r = await req('GET', path, { headers: { range: `bytes=-${len}` }, agent: streamAgent });
    if (r.status !== 206 || !r.body.equals(localBytes(size - len, len))) return fail('range', `suffix range ${r.status}`);
    return ok('range', performance.now() - t0, r.body.length);
  }
  if (p < 0.95) {
    const a = rnd(size / 2 - 70000);
    const b = size / 2 + rnd(size / 2 - 70000);
    const r = await req('GET', path, { headers: { range: `bytes=${a}-${a + 999},${b}-${b + 65535}` }, agent: streamAgent });
    if (r.status !== 206 || !String(r.headers['content-type']).startsWith('multipart/byteranges')) return fail('range', `multi range ${r.status} ${r.headers['content-type']}`);
    if (!r.body.includes(localBytes(b, 65536))) return fail('range', 'multi range: second part differs from the file');
    return ok('range', performance.now() - t0, r.body.length);
  }
  if (!etag) return ok('range', performance.now() - t0);
  const r = await req('GET', path, { headers: { 'if-none-match': etag }, agent: streamAgent });
  if (r.status !== 304) return fail('range', `If-None-Match ${r.status}`);
  ok('range', performance.now() - t0);
}

/** A whole download (abortAfter undefined) or one the client drops after abortAfter bytes. */
function download(k: 'stream' | 'abort', abortAfter?: number): Promise<void> {
  const t0 = performance.now();
  const start = abortAfter !== undefined && Math.random() < 0.5 ? rnd(S.asset.size / 2) : 0;
  return new Promise((resolve) => {
    let got = 0;
    let done = false;
    const finish = (why?: string) => {
      if (done) return;
      done = true;
      if (why) fail(k, why);
      else ok(k, performance.now() - t0, got);
      resolve();
    };
    // Its own connection: an aborted response cannot be reused.
    const r = http.get(base + `/assets/${S.asset.path}`, { agent: false, headers: start ? { range: `bytes=${start}-` } : {} }, (res) => {
      const want = start ? 206 : 200;
      if (res.statusCode !== want) {
        res.resume();
        return finish(`${k} status ${res.statusCode}`);
      }
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (abortAfter !== undefined && got >= abortAfter) {
          r.destroy();
          finish();
        }
      });
      res.on('end', () => (got === S.asset.size - start ? finish() : finish(`${k}: ${got} bytes of ${S.asset.size - start}`)));
      res.on('error', (e) => finish(`${k}: ${e.message}`));
    });
    r.setTimeout(120_000, () => r.destroy(new Error('timeout')));
    r.on('error', (e) => finish(abortAfter !== undefined && got >= abortAfter ? undefined : `${k}: ${e.message}`));
  });
}

// ---- admin API edits
const openTasks: { id: number; at: number; mac: string }[] = [];
let taskHost = 0;
async function apiEdit(): Promise<void> {
  const t0 = performance.now();
  const now = Date.now();
  // Tasks assigned a few seconds ago are cancelled first (some were served by a render meanwhile).
  const due = openTasks.length && (now - openTasks[0]!.at > 3000 || openTasks.length > 20) ? openTasks.shift()! : null;
  if (due) {
    const r = await api('POST', `/tasks/${due.id}/cancel`);
    // 409: it ended otherwise meanwhile (e.g. replaced); anything else is an error.
    if (r.status !== 200 && r.status !== 409) return fail('api', `cancel task ${r.status} ${r.body.toString().slice(0, 100)}`);
    opLatency('cancel task', performance.now() - t0);
    return ok('api', performance.now() - t0);
  }
  const p = Math.random();
  const i = rnd(S.hosts);
  const mac = hostMac(i);
  let r: Res;
  let want = 200;
  if (p < 0.45) {
    r = await api('PATCH', `/hosts/${mac}`, { variables: { rack: i % 20, soak: rnd(1e6) }, notes: `soak edit ${new Date(now).toISOString()}` });
  } else if (p < 0.55) {
    r = await api('GET', `/hosts/${mac}`);
  } else if (p < 0.8) {
    // Hosts are taken in turn for tasks, so none has two open; a render of one marks its task served.
    const tmac = hostMac((taskHost = (taskHost + 7) % S.hosts));
    r = await api('POST', '/tasks', { profile: 'soak-task', mac: tmac, comment: 'soak', replace: true });
    want = 201;
    if (r.status === 201) {
      const [t] = JSON.parse(r.body.toString()) as { id: number }[];
      if (t) openTasks.push({ id: t.id, at: now, mac: tmac });
      if (Math.random() < 0.3) {
        // The host boots: its task is served.
        const b = await req('GET', `/ipxe?mac=${tmac.replace(/:/g, '-')}`);
        if (b.status !== 200) return fail('api', `render of a host with a new task ${b.status} ${b.body.toString().slice(0, 100)}`);
      }
    }
  } else if (p < 0.88) {
    r = await api('PUT', '/templates/ipxe/soak.ipxe', { body: templateBody(), comment: `soak revision ${templateRevision}` });
    want = 201;
  } else if (p < 0.94) {
    r = await api('GET', `/events?mac=${mac}&limit=50`);
  } else {
    r = await api('GET', `/hosts?q=soak0${rnd(10)}&limit=50`);
  }
  const op = p < 0.45 ? 'PATCH host' : p < 0.55 ? 'GET host' : p < 0.8 ? 'assign task' : p < 0.88 ? 'PUT template' : p < 0.94 ? 'GET events' : 'GET hosts';
  if (r.status !== want) return fail('api', `${op} ${r.status} ${r.body.toString().slice(0, 100)}`);
  opLatency(op, performance.now() - t0);
  ok('api', performance.now() - t0);
}

/** The slowest admin API call of each kind per interval: which one, if any, grows with the database. */
let opMax: Record<string, { n: number; max: number; sum: number }> = {};
function opLatency(op: string, ms: number): void {
  const o = (opMax[op] ??= { n: 0, max: 0, sum: 0 });
  o.n++;
  o.sum += ms;
  if (ms > o.max) o.max = ms;
}

// ---- healthz: the outside view of the event loop
async function health(): Promise<void> {
  const t0 = performance.now();
  const r = await req('GET', '/healthz', { agent: healthAgent, timeoutMs: 10_000 });
  if (r.status !== 200) return fail('health', `healthz ${r.status}`);
  ok('health', performance.now() - t0);
}

// ---- DHCP
function dhcpTemplate(kind: 'bios' | 'uefi' | 'ipxe' | 'req4011'): Buffer {
  const b = Buffer.alloc(548);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  if (kind !== 'req4011') b.writeUInt16BE(0x8000, 10);
  else b.set([10, 96, 0, 2], 12); // ciaddr: the firmware has its address by now
  b.writeUInt32BE(0x63825363, 236);
  const arch = kind === 'bios' ? 0 : 7;
  const opts: [number, number[] | string][] = [
    [53, [kind === 'req4011' ? 3 : 1]],
    [57, [0x05, 0xc0]],
    [93, [0, arch]],
    [94, [1, 3, 16]],
    [97, [0, ...randomBytes(16)]],
    [60, `PXEClient:Arch:0000${arch}:UNDI:003016`],
    [55, [1, 3, 43, 54, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135, 175]],
  ];
  if (kind === 'ipxe') opts.push([77, 'iPXE'], [175, [0xb1, 0x01, 0x01]]);
  if (kind === 'req4011') opts.push([43, [71, 4, 0x00, 0x00, 0x00, 0x00, 255]]);
  let i = 240;
  for (const [code, v] of opts) {
    const val = Buffer.from(v as never);
    b[i++] = code;
    b[i++] = val.length;
    val.copy(b, i);
    i += val.length;
  }
  b[i] = 255;
  return b.subarray(0, Math.max(300, i + 1));
}
const dhcpPending = new Map<number, { at: number; kind: string }>();
let dhcpSock: dgram.Socket | null = null;
let macSeq = 0;
let xidSeq = randomBytes(4).readUInt32BE(0) >>> 1;
const recentMacs: number[] = [];
function dhcpSend(): void {
  if (!dhcpSock) return;
  const p = Math.random();
  const kind = p < 0.55 ? 'bios' : p < 0.8 ? 'uefi' : p < 0.9 ? 'ipxe' : 'req4011';
  const b = dhcpTemplate(kind);
  const xid = (xidSeq = (xidSeq + 1) >>> 0);
  b.writeUInt32BE(xid, 4);
  // A fresh MAC from a pool far larger than a run for DISCOVERs; a REQUEST comes from a MAC that just DISCOVERed.
  const m = kind === 'req4011' && recentMacs.length ? recentMacs[rnd(recentMacs.length)]! : macSeq++ % S.dhcpMacPool;
  if (kind !== 'req4011') {
    recentMacs.push(m);
    if (recentMacs.length > 256) recentMacs.shift();
  }
  b.set([0x02, 0xcd, (m >> 24) & 0xff, (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff], 28);
  dhcpPending.set(xid, { at: performance.now(), kind });
  stats.dhcp.inflight++;
  if (kind === 'req4011') dhcpSock.send(b, 4011, S.server);
  else dhcpSock.send(b, 67, '255.255.255.255');
}
function startDhcp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4' });
    sock.on('error', reject);
    sock.on('message', (msg) => {
      if (msg.length < 240 || msg[0] !== 2) return;
      const xid = msg.readUInt32BE(4);
      const p = dhcpPending.get(xid);
      if (!p) return;
      dhcpPending.delete(xid);
      stats.dhcp.inflight--;
      ok('dhcp', performance.now() - p.at);
    });
    sock.bind(68, '0.0.0.0', () => {
      sock.setBroadcast(true);
      dhcpSock = sock;
      resolve();
    });
  });
  // Unanswered after 2 s: lost (sweep below).
}
function dhcpSweep(): void {
  const t = performance.now();
  for (const [xid, p] of dhcpPending) {
    if (t - p.at > 2000) {
      dhcpPending.delete(xid);
      stats.dhcp.inflight--;
      fail('dhcp', `no answer within 2 s (${p.kind})`);
    }
  }
}

// ---- TFTP: batches of the C load generator
const tftpMix = [
  { file: 0, blksize: 1468, window: 1 },
  { file: 1, blksize: 1468, window: 8 },
  { file: 0, blksize: 512, window: 1 },
  { file: 1, blksize: 1468, window: 4 },
  { file: 0, blksize: 1468, window: 8 },
  { file: 1, blksize: 512, window: 1 },
];
let tftpBatch = 0;
let tftpChild: ChildProcess | null = null;
function tftpRun(): Promise<void> {
  const n = Math.max(1, Math.round(S.rates.tftp * S.tftp.batchSeconds));
  const mix = tftpMix[tftpBatch++ % tftpMix.length]!;
  const f = S.tftp.files[mix.file]!;
  return new Promise((resolve) => {
    const child = spawn(S.tftp.loadgen, [S.server, '69', f.name, f.local, String(Math.min(S.tftp.concurrency, n)), String(n), String(S.tftp.batchSeconds * 3), String(mix.blksize), String(mix.window)], { stdio: ['ignore', 'pipe', 'pipe'] });
    tftpChild = child;
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-500)));
    child.on('exit', (code) => {
      tftpChild = null;
      try {
        const r = JSON.parse(out.trim().split('\n').pop() ?? '') as { ok: number; failed: number; corrupt: number; unfinished: number; p50ms: number; p99ms: number };
        for (let i = 0; i < r.ok; i++) ok('tftp', undefined, 0);
        stats.tftp.lat.push(r.p50ms);
        for (let i = 0; i < r.failed + r.corrupt; i++) fail('tftp', `${f.name} blksize ${mix.blksize} window ${mix.window}: failed or corrupt (${err.trim().split('\n')[0] ?? ''})`);
        if (r.unfinished) for (let i = 0; i < r.unfinished; i++) fail('tftp', `${f.name}: unfinished within ${S.tftp.batchSeconds * 3} s`);
      } catch {
        fail('tftp', `loadgen exited ${code}: ${err.slice(0, 200)}`);
      }
      resolve();
    });
  });
}

// ---------------------------------------------------------------- /metrics
/** A few values from GET /metrics (summed over label sets), when the server serves it. */
async function scrape(): Promise<Record<string, number> | null> {
  try {
    const r = await req('GET', '/metrics', { timeoutMs: 5000 });
    if (r.status !== 200) return null;
    const want = /^(nodejs_eventloop_lag_(p50|p99|max|mean)_seconds|process_open_fds|process_resident_memory_bytes|nodejs_heap_size_used_bytes|chainboot_http_active_streams|chainboot_tftp_active_transfers|chainboot_tftp_sessions_active|chainboot_events_pending|chainboot_event_log_pending)(\{[^}]*\})? ([0-9.eE+-]+)/;
    const out: Record<string, number> = {};
    for (const line of r.body.toString().split('\n')) {
      const m = want.exec(line);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[4]);
    }
    return out;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- snapshots
async function snap(final = false): Promise<void> {
  const metrics = await scrape();
  const loads: Record<string, unknown> = {};
  for (const k of TYPES) {
    const s = stats[k];
    const lat = s.lat.sort((a, b) => a - b);
    loads[k] = { ok: s.ok, err: s.err, skipped: s.skipped, inflight: s.inflight, bytes: s.bytes, p50: round(q(lat, 0.5)), p99: round(q(lat, 0.99)), max: round(lat.at(-1) ?? null), errors: Object.fromEntries(s.errors) };
    s.ok = s.err = s.skipped = s.bytes = 0;
    s.lat = [];
    s.errors = new Map();
  }
  const apiOps = Object.fromEntries(Object.entries(opMax).map(([k, o]) => [k, { n: o.n, mean: round(o.sum / o.n), max: round(o.max) }]));
  opMax = {};
  say({ type: 'snap', t: Date.now(), final, loads, totals, metrics, apiOps, openTasks: openTasks.length });
}

async function main(): Promise<void> {
  await seed();
  await startDhcp();
  // DHCP is fire and forget (answers are matched by xid, the unanswered swept after 2 s).
  if (S.rates.dhcp > 0) {
    const tickMs = Math.max(10, 1000 / S.rates.dhcp);
    let owed = 0;
    let last = performance.now();
    timers.push(
      setInterval(() => {
        if (stopping) return;
        const now = performance.now();
        owed = Math.min(owed + ((now - last) * S.rates.dhcp) / 1000, S.rates.dhcp + 1);
        last = now;
        for (; owed >= 1; owed--) dhcpSend();
      }, tickMs),
    );
  }
  timers.push(setInterval(dhcpSweep, 500));
  every('render', S.rates.render, 256, render);
  every('range', S.rates.range, 16, range);
  every('stream', S.rates.stream, 2, () => download('stream'));
  every('abort', S.rates.abort, 4, () => download('abort', 65536 + rnd(8 << 20)));
  every('api', S.rates.api, 4, apiEdit);
  every('health', S.rates.health, 1, health);
  // TFTP: one batch every batchSeconds (rate × batchSeconds transfers), never two at once.
  if (S.rates.tftp > 0) every('tftp', 1 / S.tftp.batchSeconds, 1, tftpRun);
  say({ type: 'ready' });
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const t of timers) clearInterval(t);
  const t0 = Date.now();
  while (TYPES.some((k) => k !== 'dhcp' && stats[k].inflight > 0) && Date.now() - t0 < 15_000) await sleep(100);
  if (tftpChild) tftpChild.kill('SIGTERM');
  await sleep(2100);
  dhcpSweep();
  await snap(true);
  dhcpSock?.close();
  closeSync(assetFd);
  agent.destroy();
  streamAgent.destroy();
  healthAgent.destroy();
  process.exit(0);
}

createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'snap') void snap();
  else if (l === 'stop') void stop();
});
process.stdin.on('end', () => void stop());
process.on('SIGTERM', () => void stop());
setTimeout(() => void stop(), S.deadlineMs).unref();

main().catch((e: unknown) => {
  say({ type: 'fatal', error: (e as Error).stack ?? String(e) });
  process.exit(1);
});

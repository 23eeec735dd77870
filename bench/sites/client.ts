/**
 * The clients of one site for bench/sites, run inside the site's LAN
 * namespace: N machines booting at once, each from its own address, the way
 * a BIOS PXE machine with chainboot does:
 *   1. PXE DISCOVER (broadcast; the site's relay forwards it) → proxy offer → loader name and server
 *   2. the loader over TFTP from that server (blksize 1468), byte count checked against tsize
 *   3. DISCOVER again as iPXE (user class "iPXE") → the HTTP entry URL
 *   4. GET the entry script, GET the per-host script, then every kernel/initrd it names
 *      (the site's cache when the site has one), byte counts checked against Content-Length
 * Prints one JSON line: {"type":"site-result", clients, ok, failed, errors, ms, phases, bytes}.
 *   node --import tsx bench/sites/client.ts SITE_INDEX CLIENTS FIRST_IP_SUFFIX TIMEOUT_S
 * Every exchange is bounded by TIMEOUT_S; nothing is retried forever.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { BOOTREQUEST, decodePacket, encodePacket, MessageType, Opt, type DhcpPacket } from '../../src/dhcp/packet.js';
import { decodePacket as decodeTftp, encodeAck, encodeError, encodeRequest } from '../../src/tftp/packet.js';

const [siteArg = '1', clientsArg = '50', firstArg = '100', timeoutArg = '120'] = process.argv.slice(2);
const site = Number(siteArg);
const clients = Number(clientsArg);
const first = Number(firstArg);
const timeoutMs = Number(timeoutArg) * 1000;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

const deadline = Date.now() + timeoutMs;
function left(): number {
  const ms = deadline - Date.now();
  if (ms <= 0) throw new Error('bench timeout');
  return ms;
}

// ---- DHCP: one socket on port 68 for every client of the site, replies matched by xid ----
const dhcpSock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const waiting = new Map<number, (p: DhcpPacket) => void>();
dhcpSock.on('message', (msg) => {
  try {
    const p = decodePacket(msg);
    const w = waiting.get(p.xid);
    if (w && p.options.get(Opt.MESSAGE_TYPE)?.[0] === MessageType.OFFER) {
      waiting.delete(p.xid);
      w(p);
    }
  } catch {
    /* not for us */
  }
});

async function discover(mac: Buffer, ipxe: boolean): Promise<DhcpPacket> {
  const options = new Map<number, Buffer>([
    [Opt.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])],
    [Opt.CLIENT_ARCH, Buffer.from([0, 0])],
    [Opt.CLIENT_NDI, Buffer.from([1, 2, 1])],
    [Opt.CLIENT_UUID, Buffer.concat([Buffer.from([0]), randomBytes(16)])],
    [Opt.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
    [Opt.PARAMETER_LIST, Buffer.from([1, 3, 43, 54, 60, 66, 67, 97])],
  ]);
  if (ipxe) options.set(Opt.USER_CLASS, Buffer.from('iPXE'));
  // Firmware retries a lost DISCOVER after 4 s, 8 s, 16 s…; a relay or a busy server can drop one.
  for (let attempt = 0, wait = 4000; ; attempt++, wait *= 2) {
    const xid = randomBytes(4).readUInt32BE(0);
    const chaddr = Buffer.alloc(16);
    mac.copy(chaddr);
    const pkt: DhcpPacket = { op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: 0x8000, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '', options };
    const got = new Promise<DhcpPacket | null>((resolve) => {
      const t = setTimeout(() => {
        waiting.delete(xid);
        resolve(null);
      }, Math.min(wait, left()));
      waiting.set(xid, (p) => {
        clearTimeout(t);
        resolve(p);
      });
    });
    dhcpSock.send(encodePacket(pkt), 67, '255.255.255.255');
    const offer = await got;
    if (offer) return offer;
    if (attempt >= 3) throw new Error(`no proxy offer after ${attempt + 1} DISCOVERs`);
  }
}

// ---- TFTP: RRQ with blksize and tsize, from the client's own address ----
function tftpGet(localIp: string, server: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    let received = 0;
    let tsize = -1;
    let lastBlock = 0;
    let blksize = 512;
    let timer: NodeJS.Timeout;
    let lastSent: { buf: Buffer; port: number } | null = null;
    let tries = 0;
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else if (tsize >= 0 && received !== tsize) reject(new Error(`TFTP ${file}: got ${received} bytes, tsize said ${tsize}`));
      else resolve(received);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > 5 || !lastSent) return finish(new Error(`TFTP ${file}: timeout`));
        sock.send(lastSent.buf, lastSent.port, server);
        arm();
      }, Math.min(1000, left()));
    };
    const send = (buf: Buffer, port: number) => {
      lastSent = { buf, port };
      tries = 0;
      sock.send(buf, port, server);
      arm();
    };
    let tid = 0;
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address !== server) return;
      // The transfer's TID is the port of the first answer (RFC 1350 §4); a second
      // session made by a retransmitted RRQ is told so and otherwise ignored.
      if (tid === 0) tid = rinfo.port;
      else if (rinfo.port !== tid) {
        sock.send(encodeError(5, 'unknown transfer ID'), rinfo.port, server);
        return;
      }
      const d = decodeTftp(msg);
      if (!d.ok) return;
      const p = d.packet;
      if (p.op === 'oack') {
        for (const [k, v] of p.options) {
          if (k === 'blksize') blksize = Number(v);
          if (k === 'tsize') tsize = Number(v);
        }
        send(encodeAck(0), rinfo.port);
      } else if (p.op === 'data') {
        if (p.block === ((lastBlock + 1) & 0xffff)) {
          lastBlock = p.block;
          received += p.data.length;
        }
        send(encodeAck(p.block), rinfo.port);
        if (p.data.length < blksize && p.block === lastBlock) finish(null);
      } else if (p.op === 'error') finish(new Error(`TFTP ${file}: error ${p.code} ${p.message}`));
    });
    sock.bind(0, localIp, () => send(encodeRequest('rrq', file, 'octet', [['blksize', '1468'], ['tsize', '0']]), 69));
  });
}

// ---- HTTP from the client's own address ----
function get(localIp: string, url: string, keep: boolean): Promise<{ status: number; body: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: localIp, timeout: Math.min(60_000, left()) }, (res) => {
      let bytes = 0;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (keep) parts.push(c);
      });
      res.on('end', () => {
        const want = res.headers['content-length'];
        if (want !== undefined && Number(want) !== bytes) return reject(new Error(`GET ${url}: ${bytes} bytes, Content-Length ${want}`));
        resolve({ status: res.statusCode ?? 0, body: keep ? Buffer.concat(parts).toString('utf8') : '', bytes });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

interface ClientResult {
  ok: boolean;
  error?: string;
  phases: { dhcp: number; tftp: number; ipxe: number; assets: number };
  tftpBytes: number;
  assetBytes: number;
  assetHosts: string[];
}

async function boot(i: number): Promise<ClientResult> {
  const localIp = `10.97.${site}.${first + i}`;
  const mac = Buffer.from([0x52, 0x54, 0x00, 0x97, site, i]);
  const r: ClientResult = { ok: false, phases: { dhcp: 0, tftp: 0, ipxe: 0, assets: 0 }, tftpBytes: 0, assetBytes: 0, assetHosts: [] };
  let t = performance.now();
  const lap = (k: keyof ClientResult['phases']) => {
    const now = performance.now();
    r.phases[k] = now - t;
    t = now;
  };
  try {
    const offer = await discover(mac, false);
    lap('dhcp');
    r.tftpBytes = await tftpGet(localIp, offer.siaddr, offer.file);
    lap('tftp');
    const again = await discover(mac, true);
    const entryUrl = again.options.get(Opt.BOOTFILE_NAME)?.toString('latin1') ?? again.file;
    const entry = await get(localIp, entryUrl, true);
    if (entry.status !== 200) throw new Error(`entry script: HTTP ${entry.status}`);
    const macText = [...mac].map((b) => b.toString(16).padStart(2, '0')).join('-');
    const base = entryUrl.replace(/\/boot\.ipxe$/, '');
    const script = await get(localIp, `${base}/ipxe?mac=${macText}`, true);
    if (script.status !== 200) throw new Error(`boot script: HTTP ${script.status}`);
    lap('ipxe');
    const urls = [...script.body.matchAll(/^(?:kernel|initrd(?: --name \S+)?) (http:\/\/\S+)/gm)].map((m) => m[1]!);
    if (urls.length === 0) throw new Error(`boot script names no asset:\n${script.body}`);
    for (const u of urls) {
      const a = await get(localIp, u, false);
      if (a.status !== 200) throw new Error(`GET ${u}: HTTP ${a.status}`);
      r.assetBytes += a.bytes;
      r.assetHosts.push(new URL(u).host);
    }
    lap('assets');
    r.ok = true;
  } catch (e) {
    r.error = (e as Error).message;
  }
  return r;
}

dhcpSock.bind(68, '0.0.0.0', async () => {
  dhcpSock.setBroadcast(true);
  out({ type: 'ready', site });
  // Start together: the orchestrator writes "go" on stdin for every site at once.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => boot(i)));
  const ms = performance.now() - t0;
  const ok = results.filter((r) => r.ok);
  const med = (k: keyof ClientResult['phases']) => {
    const v = ok.map((r) => r.phases[k]).sort((a, b) => a - b);
    return v.length ? Math.round(v[Math.floor(v.length / 2)]!) : null;
  };
  out({
    type: 'site-result',
    site,
    clients,
    ok: ok.length,
    failed: results.length - ok.length,
    errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5),
    ms: Math.round(ms),
    medianPhaseMs: { dhcp: med('dhcp'), tftp: med('tftp'), ipxe: med('ipxe'), assets: med('assets') },
    tftpBytes: ok.reduce((s, r) => s + r.tftpBytes, 0),
    assetBytes: ok.reduce((s, r) => s + r.assetBytes, 0),
    assetHosts: [...new Set(ok.flatMap((r) => r.assetHosts))],
  });
  dhcpSock.close();
  process.exit(0);
});

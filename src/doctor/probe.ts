/**
 * Who else answers PXE clients on this LAN? The doctor acts like a new
 * machine's firmware: it broadcasts a DHCPDISCOVER with option 60
 * "PXEClient:Arch:…" and option 93 (once as BIOS, once as x64 UEFI) from port
 * 68 on one interface, and lists every OFFER that comes back for a few
 * seconds: a DHCP server (it offers an address) or a proxyDHCP (boot
 * information only, yiaddr 0.0.0.0), and the boot file each hands out.
 *
 * This sends broadcasts on the chosen interface's LAN and nowhere else (the
 * limited broadcast 255.255.255.255 is never routed). `--no-probe` skips it.
 * The packet work is pure (buildDiscover, readOffer, checkProbe); only
 * runProbe touches sockets.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, Opt, MessageType, decodePacket, encodePacket, messageType, optString, type DhcpPacket } from '../dhcp/packet.js';
import { PxeSub, decodeBootMenu, decodeSubOptions } from '../dhcp/pxe.js';
import { archName } from '../dhcp/firmware.js';
import type { Check } from './check.js';
import type { InterfaceFacts } from './address.js';

// ---- pure -----------------------------------------------------------------

/** The architectures the probe asks as: x86 BIOS and x64 UEFI, what most LANs boot. */
export const PROBE_ARCHS = [0, 7] as const;

/** Parameter request list of a PXE 2.1 ROM (its §2.2.1, RFC 2132 codes). */
const PXE_PRL = [1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135];

export interface DiscoverSpec {
  xid: number;
  /** 6 bytes. */
  mac: Buffer;
  /** RFC 4578 client system architecture (option 93). */
  arch: number;
  /** Option 97 client machine identifier: 16 bytes (type 0 is prepended). */
  uuid: Buffer;
}

/** A DHCPDISCOVER as PXE firmware sends it (PXE 2.1 §2.2.1, RFC 4578), with the broadcast flag so every reply is broadcast. */
export function buildDiscover(s: DiscoverSpec): Buffer {
  const chaddr = Buffer.alloc(16);
  s.mac.copy(chaddr);
  const arch = Buffer.alloc(2);
  arch.writeUInt16BE(s.arch);
  const undi = s.arch === 0 ? '002001' : '003000';
  const p: DhcpPacket = {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: s.xid,
    secs: 4,
    flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map<number, Buffer>([
      [Opt.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])],
      [Opt.MAX_MESSAGE_SIZE, Buffer.from([0x05, 0xc0])],
      [Opt.PARAMETER_LIST, Buffer.from(PXE_PRL)],
      [Opt.CLIENT_UUID, Buffer.concat([Buffer.from([0]), s.uuid.subarray(0, 16)])],
      [Opt.CLIENT_NDI, Buffer.from(s.arch === 0 ? [1, 2, 1] : [1, 3, 0])],
      [Opt.CLIENT_ARCH, arch],
      [Opt.VENDOR_CLASS, Buffer.from(`PXEClient:Arch:${String(s.arch).padStart(5, '0')}:UNDI:${undi}`, 'latin1')],
    ]),
  };
  return encodePacket(p);
}

export interface Offer {
  /** Option 54, or the packet's source address. */
  server: string;
  from: string;
  /** Which probe it answers (by xid). */
  arch: number;
  kind: 'dhcp' | 'proxy';
  /** The address offered (DHCP servers only). */
  address: string | null;
  bootFile: string | null;
  nextServer: string | null;
  vendorClass: string | null;
  /** PXE boot menu labels (option 43 sub-option 9). */
  menu: string[];
}

/**
 * Reads a reply to one of our DISCOVERs; null for anything else (our own
 * broadcast looped back, another client's traffic, a malformed packet).
 */
export function readOffer(buf: Buffer, from: { address: string; port: number }, xids: Map<number, number>): Offer | null {
  let p: DhcpPacket;
  try {
    p = decodePacket(buf);
  } catch {
    return null;
  }
  if (p.op !== BOOTREPLY || !xids.has(p.xid)) return null;
  const t = messageType(p);
  if (t !== MessageType.OFFER && t !== MessageType.ACK && t !== null) return null;
  const sid = p.options.get(Opt.SERVER_ID);
  const server = sid && sid.length === 4 ? [...sid].join('.') : from.address;
  let menu: string[] = [];
  const v43 = p.options.get(Opt.VENDOR_SPECIFIC);
  const vendorClass = optString(p, Opt.VENDOR_CLASS);
  if (v43 && vendorClass?.startsWith('PXEClient')) {
    try {
      const m = decodeSubOptions(v43).get(PxeSub.BOOT_MENU);
      if (m) menu = decodeBootMenu(m).map((i) => i.label);
    } catch {
      /* option 43 that is not PXE's: no menu to show */
    }
  }
  const bootFile = p.file || optString(p, Opt.BOOTFILE_NAME) || null;
  const nextServer = p.siaddr !== '0.0.0.0' ? p.siaddr : optString(p, Opt.TFTP_SERVER_NAME) || null;
  return {
    server,
    from: `${from.address}:${from.port}`,
    arch: xids.get(p.xid)!,
    kind: p.yiaddr !== '0.0.0.0' ? 'dhcp' : 'proxy',
    address: p.yiaddr !== '0.0.0.0' ? p.yiaddr : null,
    bootFile,
    nextServer,
    vendorClass,
    menu,
  };
}

export interface Responder {
  server: string;
  kind: 'dhcp' | 'proxy';
  /** One of this host's own addresses (a chainboot serve, or a DHCP server here). */
  self: boolean;
  offers: Offer[];
}

/** Offers grouped by server and kind, in the order first seen; retransmitted answers counted once. */
export function groupOffers(offers: Offer[], localAddresses: string[]): Responder[] {
  const out: Responder[] = [];
  for (const o of offers) {
    let r = out.find((x) => x.server === o.server && x.kind === o.kind);
    if (!r) {
      r = { server: o.server, kind: o.kind, self: localAddresses.includes(o.server), offers: [] };
      out.push(r);
    }
    if (!r.offers.some((x) => x.arch === o.arch && x.bootFile === o.bootFile && x.address === o.address)) r.offers.push(o);
  }
  return out;
}

export type ProbeResult =
  | { skipped: string }
  | { error: string; fix: string }
  | { iface: string; source: string; listenMs: number; archs: number[]; responders: Responder[] };

export interface ProbeContext {
  /** chainboot's own proxyDHCP is on (another one then conflicts). */
  dhcpOn: boolean;
  /** The address chainboot advertises: a DHCP server pointing PXE clients there is fine. */
  advertised: string | null;
}

export function offerText(o: Offer): string {
  const what: string[] = [];
  if (o.address) what.push(`address ${o.address}`);
  if (o.bootFile) what.push(`boot file ${o.bootFile}${o.nextServer ? ` from ${o.nextServer}` : ''}`);
  if (o.menu.length) what.push(`PXE menu ${o.menu.map((m) => JSON.stringify(m)).join(', ')}`);
  if (o.kind === 'proxy' && !o.bootFile) what.push(`no boot file in the offer${o.nextServer ? ` (the firmware asks ${o.nextServer} on port 4011)` : ''}`);
  if (o.kind === 'dhcp' && !o.bootFile && o.vendorClass?.startsWith('PXEClient')) what.push('PXE options (option 60 PXEClient)');
  return `${archName(o.arch)}: ${what.join(', ')}`;
}

/** Points PXE clients at chainboot itself (options 66/67 from "chainboot dhcp-config")? */
function pointsAtUs(o: Offer, advertised: string | null): boolean {
  if (!advertised) return false;
  return o.nextServer === advertised || (o.bootFile?.includes(`//${advertised}`) ?? false);
}

/**
 * The responders as one check, and each problem they cause as a check of its
 * own with its fix.
 */
export function checkProbe(r: ProbeResult, ctx: ProbeContext): Check[] {
  const name = 'Other DHCP / proxyDHCP servers';
  const base = { id: 'probe', name };
  if ('skipped' in r) return [{ ...base, status: 'ok', detail: `not checked: ${r.skipped}`, data: r }];
  if ('error' in r) return [{ ...base, status: 'warn', detail: `could not probe: ${r.error}`, fix: r.fix, data: r }];

  const lines = [`listened ${r.listenMs / 1000} s on ${r.iface} after a PXE DISCOVER as ${r.archs.map((a) => archName(a)).join(' and ')} (from ${r.source})`];
  const problems: Check[] = [];
  const problem = (id: string, what: string, detail: string, fix: string) => problems.push({ id: `probe.${id}`, name: what, status: 'warn', detail, fix });
  for (const resp of r.responders) {
    const label = resp.kind === 'dhcp' ? 'DHCP server (gives addresses)' : 'proxyDHCP (boot information only)';
    lines.push(`${resp.server}: ${label}${resp.self ? ' — this host' : ''}`);
    for (const o of resp.offers) lines.push(`  ${offerText(o)}`);
    if (resp.self) continue;
    if (resp.kind === 'proxy' && ctx.dhcpOn) {
      problem(
        `proxy.${resp.server}`,
        `Another proxyDHCP at ${resp.server}`,
        `it answers PXE clients too (${resp.offers.map(offerText).join('; ')}): each client boots whichever offer it takes`,
        `stop the proxyDHCP on ${resp.server} (dnsmasq: drop "dhcp-range=…,proxy" and its pxe-service lines), or run chainboot with --dhcp off and point that one at chainboot`,
      );
    }
    if (resp.kind === 'dhcp' && ctx.dhcpOn) {
      const pxe = resp.offers.filter((o) => (o.bootFile || o.vendorClass?.startsWith('PXEClient')) && !pointsAtUs(o, ctx.advertised));
      if (pxe.length) {
        problem(
          `dhcp-boot.${resp.server}`,
          `DHCP server ${resp.server} hands out boot information`,
          `${pxe.map(offerText).join('; ')}: firmware may boot that instead of chainboot's loader`,
          `remove next-server/filename (options 66/67) and option 60 PXEClient for PXE clients on ${resp.server}, or point them at chainboot ("chainboot dhcp-config --for isc|kea|dnsmasq|windows")`,
        );
      }
    }
  }
  if (r.responders.length === 0) lines.push('no answer');
  if (!r.responders.some((x) => x.kind === 'dhcp')) {
    problem('no-dhcp', 'DHCP server on the LAN', `no DHCP server answered on ${r.iface}: PXE clients get their address from the site's DHCP server (chainboot never gives one)`, `make sure a DHCP server serves this segment (or relays to one), or probe the clients' network with --probe-interface IF`);
  }
  const others = r.responders.filter((x) => !x.self);
  if (!ctx.dhcpOn && !others.some((x) => x.offers.some((o) => pointsAtUs(o, ctx.advertised)))) {
    problem('no-boot-info', 'Boot information for PXE clients', `chainboot's proxyDHCP is off, and no server that answered points PXE clients at ${ctx.advertised ?? 'this host'}`, `turn proxyDHCP on (--dhcp on), or add the boot options to your DHCP server ("chainboot dhcp-config --for isc|kea|dnsmasq|windows")`);
  }
  const data = { iface: r.iface, source: r.source, listenMs: r.listenMs, responders: r.responders };
  return [{ ...base, status: 'ok', detail: lines.join('\n'), data }, ...problems];
}

// ---- sockets --------------------------------------------------------------

export interface ProbeOptions {
  iface: InterfaceFacts;
  listenMs: number;
  archs?: readonly number[];
  /** Every local address, to tell this host's own answers apart. */
  localAddresses: string[];
}

function bindUdp(port: number, address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.once('error', (err) => {
      sock.close();
      reject(err);
    });
    sock.bind({ port, address }, () => {
      sock.removeAllListeners('error');
      sock.on('error', () => {}); // a late ICMP error must not crash the doctor
      sock.setBroadcast(true);
      resolve(sock);
    });
  });
}

export async function runProbe(o: ProbeOptions): Promise<ProbeResult> {
  const archs = o.archs ?? PROBE_ARCHS;
  if (!o.iface.up || o.iface.loopback) return { error: `${o.iface.name} is ${o.iface.loopback ? 'a loopback interface' : 'down'}`, fix: 'choose the clients\' network with --probe-interface IF' };
  const source = o.iface.addresses[0]?.address;
  // Replies are broadcast to 255.255.255.255:68 (broadcast flag): only a wildcard socket receives those.
  let listener: dgram.Socket;
  try {
    listener = await bindUdp(68, '0.0.0.0');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      error: `cannot listen on UDP 68: ${e.code === 'EACCES' ? 'permission denied (port 68 needs root or CAP_NET_BIND_SERVICE)' : e.code === 'EADDRINUSE' ? 'in use (a DHCP client on this host that does not share the port)' : e.message}`,
      fix: 'run doctor as root, or skip this check with --no-probe',
    };
  }
  // Limited broadcasts leave by the interface of a socket bound to its address (see dhcp/server.ts);
  // without an address the wildcard socket sends, which needs a route for 255.255.255.255.
  let sender = listener;
  if (source) {
    try {
      sender = await bindUdp(68, source);
    } catch (err) {
      listener.close();
      return { error: `cannot bind ${source}:68: ${(err as Error).message}`, fix: 'run doctor as root, or skip this check with --no-probe' };
    }
  }
  const mac = Buffer.concat([Buffer.from([0x02]), randomBytes(5)]); // locally administered: no real machine's lease is touched
  const uuid = randomBytes(16);
  const xids = new Map<number, number>();
  const packets = archs.map((arch) => {
    const xid = randomBytes(4).readUInt32BE(0);
    xids.set(xid, arch);
    return buildDiscover({ xid, mac, arch, uuid });
  });
  const offers: Offer[] = [];
  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const offer = readOffer(msg, rinfo, xids);
    if (offer) offers.push(offer);
  };
  listener.on('message', onMessage);
  if (sender !== listener) sender.on('message', onMessage);

  const sendErrors: string[] = [];
  const sendAll = () => {
    for (const p of packets) sender.send(p, 67, '255.255.255.255', (err) => err && sendErrors.push(err.message));
  };
  // Firmware retransmits too: a second DISCOVER covers a lost first one.
  sendAll();
  const again = setTimeout(sendAll, Math.min(1000, o.listenMs / 2));
  await new Promise((r) => setTimeout(r, o.listenMs));
  clearTimeout(again);
  listener.close();
  if (sender !== listener) sender.close();
  if (sendErrors.length && offers.length === 0) {
    return { error: `sending the DISCOVER failed: ${sendErrors[0]}`, fix: `give ${o.iface.name} an IPv4 address, or skip this check with --no-probe` };
  }
  return { iface: o.iface.name, source: `${source ?? '0.0.0.0'}:68`, listenMs: o.listenMs, archs: [...archs], responders: groupOffers(offers, o.localAddresses) };
}

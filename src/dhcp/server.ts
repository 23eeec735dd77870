/**
 * The proxyDHCP listeners: UDP 67 (DISCOVERs, broadcast) and UDP 4011 (PXE
 * boot server REQUESTs, unicast). Each packet: decode → proxyReply → encode →
 * send. A bad packet is counted and dropped; only a failed bind is fatal, and
 * only for that listener: with a DHCP server on this host, 67 is taken and
 * 4011 still serves (the DHCP server must then send option 60 PXEClient).
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../log.js';
import type { EventLog } from '../boot/events.js';
import { explainBindError } from '../net/bind.js';
import { decodePacket, encodePacket, maxReplySize, clientMac, messageType, messageTypeName, BOOTREQUEST, isIpv4, ipFromBytes, MessageType, Opt, type DhcpPacket } from './packet.js';
import { proxyReply, describeRequest, type MenuConfig, type MenuDisplay, type ProxyPolicy, type IgnoreReason, type ProxyDecision, type ProxyAnswer } from './proxy.js';
import { localAddresses, pickServerAddress, isOnLocalSubnet, isUsableServerAddress, routeSource, type AddressChoice, type InterfaceTable, type LocalAddress } from './address.js';
import { archName, type HostMode, type Loaders, DEFAULT_LOADERS } from './firmware.js';
import { createMacRateLimiter, DEFAULT_RATE_LIMIT, type RateLimitConfig } from './ratelimit.js';

const ANY = '0.0.0.0';

/**
 * dgram resolves every destination through a lookup function, dns.lookup by
 * default, which even for an IP literal defers the send to the next tick.
 * Replies here always go to addresses (broadcast, relay, client): hand those
 * back at once, and leave anything else to dns.lookup.
 */
function lookupLiteral(address: string, family: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  if (isIpv4(address)) callback(null, address, 4);
  else dns.lookup(address, family as number, callback);
}

export interface ProxyDhcpServerOptions {
  /** DHCP port (67); 0 picks a free one (tests). */
  port?: number;
  /** PXE boot server port (4011); 0 picks a free one (tests). */
  proxyPort?: number;
  /** Address both sockets bind to. Broadcast DISCOVERs only reach a socket bound to 0.0.0.0. */
  bindAddress?: string;
  /** Address to advertise (option 54, siaddr); default: the local interface on the client's/relay's subnet. */
  advertiseIp?: string;
  /** http://server:port that iPXE and HTTP Boot clients are sent to. */
  httpBaseUrl: string;
  loaders?: Loaders;
  /** Per-host control; undefined for an unknown MAC (which follows defaultMode). */
  hostLookup: (mac: string) => { dhcpMode: HostMode } | undefined;
  defaultMode?: HostMode;
  log: Logger;
  events?: Pick<EventLog, 'record'>;
  /** Wait this long before each reply: some firmware misses an offer that arrives at once. */
  replyDelayMs?: number;
  extraVendorClasses?: string[];
  macPrefixArch?: Record<string, number | string>;
  junkUuidFallback?: boolean;
  answerWithoutUuid?: boolean;
  menu?: MenuConfig;
  /** Per-MAC limit; false turns it off. */
  rateLimit?: RateLimitConfig | false;
  /** The interface table (os.networkInterfaces); injectable for tests. */
  interfaces?: () => InterfaceTable;
  /**
   * The boot correlation id of a PXE client's packet (metrics/boot-id.ts):
   * `firmwareDiscover` starts a new boot; `ip` is the client's address when
   * the packet tells it. Called only for packets of PXE/HTTP boot clients.
   */
  bootId?: (mac: string, xid: number, firmwareDiscover: boolean, ip: string | undefined) => string;
  /** Called once per packet after it was handled (tests and benchmarks wait on it instead of sleeping). */
  onHandled?: (what: HandledKind, via: 'dhcp' | 'proxy') => void;
  /**
   * The site of a request (by relay address, then client address) and what it
   * overrides; undefined: the server's own policy. Asked per packet: keep it cheap.
   */
  sitePolicy?: (hints: { relay: string | null; client: string | null }) => SitePolicy | undefined;
}

/** What a site changes in the proxy decision (sites/model.ts). */
export interface SitePolicy {
  name: string;
  /** Changes whenever the site's definition does (id, version): merged policies are cached by it. */
  revision: string;
  loaders?: Partial<Loaders>;
  /** '' or absent: the server's menu display. */
  menuDisplay?: MenuDisplay | '';
  /** Where this site's iPXE clients fetch /boot.ipxe (the centre as the site reaches it); '' = the server's. */
  httpBaseUrl?: string;
}

/** 'deferred': the first packet through a relay on no local subnet waits for a route lookup, then is handled (and reported) again. */
export type HandledKind = 'malformed' | 'not-request' | 'rate-limited' | 'ignored' | 'answered' | 'failed' | 'deferred';

export interface ProxyDhcpCounters {
  received: number;
  malformed: number;
  rateLimited: number;
  /** Proxy offers (port 67), by firmware family and outcome. */
  offers: Record<string, Record<string, number>>;
  /** ACKs (port 4011, or boot server discovery on 67), by firmware family and outcome. */
  acks: Record<string, Record<string, number>>;
  ignored: Partial<Record<IgnoreReason, number>>;
  sent: number;
  sendErrors: number;
  encodeErrors: number;
}

export interface ListenerState {
  port?: number;
  error?: string;
}

export interface ListenReport {
  dhcp: ListenerState;
  proxy: ListenerState;
}

export class ProxyDhcpConfigError extends Error {
  constructor(readonly problems: string[]) {
    super('proxyDHCP configuration:\n  ' + problems.join('\n  '));
    this.name = 'ProxyDhcpConfigError';
  }
}

function validate(opts: ProxyDhcpServerOptions, loaders: Loaders): string[] {
  const problems: string[] = [];
  try {
    const u = new URL(opts.httpBaseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`httpBaseUrl ${opts.httpBaseUrl} must be http:// or https://`);
  } catch {
    problems.push(`httpBaseUrl ${JSON.stringify(opts.httpBaseUrl)} is not a URL`);
  }
  if (opts.advertiseIp && !isUsableServerAddress(opts.advertiseIp)) problems.push(`advertiseIp ${opts.advertiseIp} must be a unicast IPv4 address of this host (not 0.0.0.0 or loopback)`);
  if (opts.bindAddress && !isIpv4(opts.bindAddress)) problems.push(`bindAddress ${opts.bindAddress} is not an IPv4 address`);
  for (const [prefix, v] of Object.entries(opts.macPrefixArch ?? {})) {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){0,5}$/i.test(prefix)) problems.push(`macPrefixArch: "${prefix}" is not a MAC prefix like d8:3a:dd`);
    if (typeof v === 'string' && !loaders[v]) problems.push(`macPrefixArch: ${prefix} → "${v}" but loaders.${v} is not set`);
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0 || v > 0xffff)) problems.push(`macPrefixArch: ${prefix} → ${v} is not an architecture type (0–65535)`);
  }
  if (opts.replyDelayMs !== undefined && (!Number.isFinite(opts.replyDelayMs) || opts.replyDelayMs < 0 || opts.replyDelayMs > 10_000)) problems.push(`replyDelayMs ${opts.replyDelayMs} must be 0–10000`);
  if (opts.rateLimit && (!(opts.rateLimit.burst >= 1) || !(opts.rateLimit.perSecond > 0))) problems.push('rateLimit needs burst ≥ 1 and perSecond > 0 (or false to turn it off)');
  const m = opts.menu;
  if (m) {
    if (!['never', 'always', 'onkey'].includes(m.display)) problems.push(`menu.display "${m.display}" must be never, always or onkey`);
    if (m.timeoutSec !== undefined && (!Number.isInteger(m.timeoutSec) || m.timeoutSec < 1 || m.timeoutSec > 254)) problems.push(`menu.timeoutSec ${m.timeoutSec} must be 1–254`);
    for (const it of m.items ?? []) if (it.loader && !loaders[it.loader]) problems.push(`menu item "${it.label}" uses loaders.${it.loader}, which is not set`);
    if (m.items && !m.items.some((i) => i.action === 'netboot')) problems.push('menu.items needs at least one netboot item');
  }
  return problems;
}

/**
 * The client's own address when the packet tells it: ciaddr; the source of a
 * port-4011 request (unicast from the client); option 50 of the REQUEST the
 * firmware broadcasts to the site's DHCP server. Port-67 sources are not the
 * client's (0.0.0.0, or a relay).
 */
function clientAddress(req: DhcpPacket, via: 'dhcp' | 'proxy', source: string): string | undefined {
  if (req.ciaddr !== ANY) return req.ciaddr;
  if (via === 'proxy') return source !== ANY ? source : undefined;
  // A DISCOVER's option 50 is only a wish (the previous lease); a REQUEST's is the address taken.
  if (messageType(req) !== MessageType.REQUEST) return undefined;
  const requested = req.options.get(Opt.REQUESTED_IP);
  return requested && requested.length === 4 ? ipFromBytes(requested) : undefined;
}

export function createProxyDhcpServer(opts: ProxyDhcpServerOptions) {
  const loaders: Loaders = opts.loaders ?? DEFAULT_LOADERS;
  const problems = validate(opts, loaders);
  if (problems.length) throw new ProxyDhcpConfigError(problems);

  const log = opts.log;
  const policy: ProxyPolicy = {
    loaders,
    httpBaseUrl: opts.httpBaseUrl.replace(/\/+$/, ''),
    menu: opts.menu,
    answerWithoutUuid: opts.answerWithoutUuid ?? true,
    defaultMode: opts.defaultMode ?? 'follow',
    extraVendorClasses: opts.extraVendorClasses ?? [],
    macPrefixArch: Object.fromEntries(Object.entries(opts.macPrefixArch ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    junkUuidFallback: opts.junkUuidFallback ?? true,
  };
  let limiter = opts.rateLimit === false ? null : createMacRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
  let delay = opts.replyDelayMs ?? 0;
  const readInterfaces = opts.interfaces ?? networkInterfaces;

  const counters: ProxyDhcpCounters = { received: 0, malformed: 0, rateLimited: 0, offers: {}, acks: {}, ignored: {}, sent: 0, sendErrors: 0, encodeErrors: 0 };
  let dhcpSock: dgram.Socket | null = null;
  let proxySock: dgram.Socket | null = null;
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  // getifaddrs() per packet would dominate a DISCOVER storm: re-read at most every few seconds.
  let locals: LocalAddress[] = [];
  let localsAt = -Infinity;
  function currentLocals(): LocalAddress[] {
    const now = Date.now();
    if (now - localsAt > 5000) {
      locals = localAddresses(readInterfaces());
      localsAt = now;
    }
    return locals;
  }
  let warnedFirstInterface = false;

  // Malformed packets are logged at most once a minute, with the latest reason.
  let lastMalformedLog = -Infinity;

  const hostMode = (mac: string): HostMode | undefined => opts.hostLookup(mac)?.dhcpMode;

  /*
   * A site's policy is the server's with the site's loaders, menu display and
   * HTTP base merged in, built once per (site version, server policy
   * generation) rather than per packet.
   */
  let policyGeneration = 0;
  const sitePolicies = new Map<string, { key: string; policy: ProxyPolicy }>();
  function policyFor(site: SitePolicy | undefined): ProxyPolicy {
    if (!site) return policy;
    const key = `${site.revision}/${policyGeneration}`;
    const hit = sitePolicies.get(site.name);
    if (hit && hit.key === key) return hit.policy;
    const merged: ProxyPolicy = { ...policy, loaders: { ...policy.loaders } };
    for (const [k, v] of Object.entries(site.loaders ?? {})) if (v) merged.loaders[k] = v;
    if (site.menuDisplay) merged.menu = { ...(policy.menu ?? {}), display: site.menuDisplay };
    if (site.httpBaseUrl) merged.httpBaseUrl = site.httpBaseUrl.replace(/\/+$/, '');
    if (sitePolicies.size >= 1024) sitePolicies.clear();
    sitePolicies.set(site.name, { key, policy: merged });
    return merged;
  }

  function bump(table: Record<string, Record<string, number>>, a: string, b: string): void {
    const row = (table[a] ??= {});
    row[b] = (row[b] ?? 0) + 1;
  }

  /**
   * One boot event per decision, built as one flat literal (this runs for
   * every DISCOVER of a storm). Empty facts are left out rather than written
   * as null/[]. The coalescing key makes a client's retransmissions of one
   * transaction (same MAC, xid, port and outcome) one event with a count
   * while it is still waiting to be written (events.ts).
   */
  function record(req: DhcpPacket, via: 'dhcp' | 'proxy', source: string, d: ProxyDecision, status: number, boot: string | undefined, error?: string, site?: string): void {
    if (!opts.events) return;
    const f = d.facts;
    const arch = f ? f.arch : null;
    const detail: Record<string, unknown> = {
      port: via === 'dhcp' ? 67 : 4011,
      message: messageTypeName(messageType(req)),
      xid: req.xid,
      arch,
      archName: archName(arch),
      archFrom: f?.archFrom,
      vendorClass: f ? f.vendorClass : null,
    };
    if (f) {
      if (f.userClasses.length) detail.userClass = f.userClasses;
      if (f.uuid !== null) detail.uuid = f.uuid;
      if (f.uuidProblem) detail.uuidProblem = f.uuidProblem;
    }
    if (req.giaddr !== ANY) detail.giaddr = req.giaddr;
    if (site !== undefined) detail.site = site;
    if (boot !== undefined) detail.boot = boot;
    if (error !== undefined) detail.error = error;
    let result: string;
    if ('ignore' in d) {
      detail.reason = d.ignore;
      detail.why = d.why;
      if (d.firmware) detail.firmware = d.firmware;
      result = `ignored: ${d.ignore}`;
    } else {
      detail.firmware = d.firmware;
      detail.outcome = d.outcome;
      detail.bootFile = d.bootFile;
      detail.why = d.why;
      detail.mode = d.mode;
      detail.server = d.reply.siaddr;
      detail.to = `${d.to.address}:${d.to.port}`;
      result = `${d.message} ${d.bootFile ?? 'boot menu'}`;
    }
    const mac = f?.mac ?? clientMac(req);
    opts.events.record(
      {
        mac,
        clientIp: req.ciaddr !== ANY ? req.ciaddr : source !== ANY ? source : null,
        kind: 'dhcp',
        request: describeRequest(req, f),
        result,
        status,
        detail,
      },
      undefined,
      mac ? `dhcp ${mac} ${req.xid} ${via} ${status} ${result}` : undefined,
    );
  }

  // With advertiseIp set the answer does not depend on the packet: decide once.
  const fixedServer: AddressChoice | null = opts.advertiseIp ? pickServerAddress(opts.advertiseIp, {}, []) : null;

  /*
   * Relays across routers: the address this host replies from is the one its
   * routing table uses to reach the relay. Looked up once per relay (a UDP
   * connect, nothing sent) and kept for a minute; bounded.
   */
  const relayRoutes = new Map<string, { address: string | null; at: number }>();
  function knownRelayRoute(giaddr: string): string | null | undefined {
    const hit = relayRoutes.get(giaddr);
    return hit && Date.now() - hit.at < 60_000 ? hit.address : undefined;
  }

  function handle(via: 'dhcp' | 'proxy', sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo, again = false): HandledKind {
    if (!again) counters.received++;
    let req: DhcpPacket;
    try {
      req = decodePacket(msg);
    } catch (e) {
      counters.malformed++;
      const now = Date.now();
      if (now - lastMalformedLog > 60_000) {
        lastMalformedLog = now;
        log.warn({ from: `${rinfo.address}:${rinfo.port}`, bytes: msg.length, malformed: counters.malformed }, `dropped a malformed DHCP packet: ${(e as Error).message}`);
      }
      return 'malformed';
    }
    // Replies (op 2) from other servers and relays arrive here too; they are not for us.
    if (req.op !== BOOTREQUEST) {
      counters.ignored['not-request'] = (counters.ignored['not-request'] ?? 0) + 1;
      return 'not-request';
    }
    // An Ethernet client (the only kind proxyReply answers) is limited by its hardware address.
    if (!again && limiter && req.htype === 1 && req.hlen === 6 && !limiter.allow(req.chaddr)) {
      counters.rateLimited++;
      return 'rate-limited';
    }

    let relayRoute: string | null | undefined;
    if (!fixedServer && req.giaddr !== ANY) {
      const locals = currentLocals();
      if (!isOnLocalSubnet(req.giaddr, locals) && !isOnLocalSubnet(rinfo.address, locals)) {
        relayRoute = knownRelayRoute(req.giaddr);
        if (relayRoute === undefined && !again) {
          // The first packet through this relay waits for the lookup: answered at
          // once it would name whichever interface comes first, which the site may not reach.
          const giaddr = req.giaddr;
          void routeSource(giaddr).then((address) => {
            if (relayRoutes.size >= 4096) relayRoutes.clear();
            relayRoutes.set(giaddr, { address, at: Date.now() });
            if (address === null) log.warn({ relay: giaddr }, `no route to the DHCP relay ${giaddr}: its clients are told this host's first address`);
            if (closed) return;
            let what: HandledKind;
            try {
              what = handle(via, sock, msg, rinfo, true);
            } catch (e) {
              counters.malformed++;
              what = 'failed';
              log.error({ err: e }, 'proxyDHCP: unexpected error handling a packet');
            }
            opts.onHandled?.(what, via);
          });
          return 'deferred';
        }
      }
    }
    const server = fixedServer ?? pickServerAddress(undefined, { giaddr: req.giaddr, ciaddr: req.ciaddr, source: rinfo.address, relayRoute }, currentLocals());
    if (!warnedFirstInterface && 'address' in server && server.how === 'first-interface') {
      warnedFirstInterface = true;
      log.warn(`several interfaces and no advertiseIp: advertising ${server.address} (the first); set advertiseIp (CHAINBOOT_ADVERTISE_IP) if clients are on another network`);
    }
    const site = opts.sitePolicy?.({ relay: req.giaddr !== ANY ? req.giaddr : null, client: clientAddress(req, via, rinfo.address) ?? null });
    const d = proxyReply(req, { via, source: { address: rinfo.address, port: rinfo.port }, server, policy: policyFor(site), hostMode });
    const boot = opts.bootId && d.facts?.clientClass ? opts.bootId(d.facts.mac, req.xid, !d.facts.ipxe && messageType(req) === MessageType.DISCOVER, clientAddress(req, via, rinfo.address)) : undefined;

    if ('ignore' in d) {
      counters.ignored[d.ignore] = (counters.ignored[d.ignore] ?? 0) + 1;
      if (d.pxe) {
        const serious = d.ignore === 'no-loader' || d.ignore === 'unknown-arch' || d.ignore === 'no-server-address' || d.ignore === 'host-lookup-failed';
        if (log.isLevelEnabled(serious ? 'warn' : 'info')) {
          const line = `${describeRequest(req, d.facts)} from ${d.facts?.mac}: not answered (${d.ignore}): ${d.why}`;
          if (serious) log.warn({ mac: d.facts?.mac, arch: d.facts?.arch, boot }, line);
          else log.info({ mac: d.facts?.mac, boot }, line);
        }
        record(req, via, rinfo.address, d, 204, boot, undefined, site?.name);
      }
      return 'ignored';
    }

    let out: Buffer;
    try {
      out = encodePacket(d.reply, { maxSize: maxReplySize(req) });
    } catch (e) {
      counters.encodeErrors++;
      log.error({ mac: d.facts.mac, boot }, `could not encode the reply: ${(e as Error).message}`);
      record(req, via, rinfo.address, d, 500, boot, (e as Error).message, site?.name);
      return 'failed';
    }
    bump(d.message === 'offer' ? counters.offers : counters.acks, d.firmware, d.outcome);
    if (log.isLevelEnabled('info')) log.info({ mac: d.facts.mac, arch: d.facts.arch, to: `${d.to.address}:${d.to.port}`, boot }, `${describeRequest(req, d.facts)} → ${d.message} ${d.bootFile ?? 'boot menu'} (${d.why})`);

    if (delay > 0) {
      const t = setTimeout(() => {
        timers.delete(t);
        send(via, sock, d, out);
      }, delay);
      timers.add(t);
    } else send(via, sock, d, out);
    // Recorded after the send: building the event (and, every maxBatch events,
    // encoding the batch for the writer) no longer delays this reply.
    record(req, via, rinfo.address, d, 200, boot, undefined, site?.name);
    return 'answered';
  }

  /** One callback for every send (no closure per packet); the error names the destination. */
  function afterSend(err: Error | null): void {
    if (err) {
      counters.sendErrors++;
      log.error(`proxyDHCP: sending a reply failed: ${err.message}`);
    } else counters.sent++;
  }

  function send(via: 'dhcp' | 'proxy', sock: dgram.Socket, d: ProxyAnswer, out: Buffer): void {
    if (closed) return;
    if (d.to.broadcast && via === 'dhcp') {
      const s = broadcastSender(d.reply.siaddr);
      if (s instanceof Promise) {
        void s.then((b) => {
          if (closed) return;
          if (b) b.send(out, afterSend);
          else sock.send(out, d.to.port, d.to.address, afterSend);
        });
      } else if (s) s.send(out, afterSend);
      else sock.send(out, d.to.port, d.to.address, afterSend);
    } else sock.send(out, d.to.port, d.to.address, afterSend);
  }

  /**
   * Limited broadcasts (255.255.255.255) leave by the interface of the
   * socket's source address when it is bound to one (Linux picks the device
   * of a bound source address for them), and fail with ENETUNREACH on a host
   * with no default route when it is not. So broadcast offers go out through
   * a socket bound to the advertised address on the DHCP port, which shares
   * the port with the wildcard listener (SO_REUSEADDR on both), and which is
   * connected to 255.255.255.255:68: the kernel then keeps its route instead
   * of looking one up for every offer, and sends need no address. A
   * connected socket receives only from its peer, so every request still
   * arrives on the wildcard listener.
   */
  const senders = new Map<string, dgram.Socket | null | Promise<dgram.Socket | null>>();
  function broadcastSender(ip: string): dgram.Socket | null | Promise<dgram.Socket | null> {
    const have = senders.get(ip);
    if (have !== undefined) return have;
    const port = dhcpSock?.address().port;
    if (!port || !canShareDhcpPort) {
      senders.set(ip, null);
      return null;
    }
    const pending = bindSocket(port, 'dhcp', ip, true)
      .then(
        (sock) =>
          new Promise<dgram.Socket>((ok, fail) => {
            sock.once('error', fail);
            sock.connect(68, '255.255.255.255', () => {
              sock.off('error', fail);
              ok(sock);
            });
          }).catch((err: Error) => {
            sock.close();
            throw err;
          }),
      )
      .then(
        (sock) => {
          senders.set(ip, sock);
          return sock;
        },
        (err: Error) => {
          log.warn(`proxyDHCP: no broadcast socket on ${ip}:${port} (${err.message}); broadcasting from the wildcard socket, which needs a route for 255.255.255.255`);
          senders.set(ip, null);
          return null;
        },
      );
    senders.set(ip, pending);
    return pending;
  }
  let canShareDhcpPort = true;

  function bind(port: number, via: 'dhcp' | 'proxy'): Promise<dgram.Socket> {
    return bindSocket(port, via, opts.bindAddress ?? '0.0.0.0', via === 'dhcp');
  }

  function bindSocket(port: number, via: 'dhcp' | 'proxy', address: string, reuseAddr: boolean): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr, lookup: lookupLiteral });
      const onError = (err: NodeJS.ErrnoException) => {
        sock.close();
        reject(new Error(explainBindError(err, 'udp', port)));
      };
      sock.once('error', onError);
      sock.on('message', (msg, rinfo) => {
        let what: HandledKind;
        try {
          what = handle(via, sock, msg, rinfo);
        } catch (e) {
          // A bug must cost one packet, not the listener.
          counters.malformed++;
          what = 'failed';
          log.error({ err: e }, 'proxyDHCP: unexpected error handling a packet');
        }
        opts.onHandled?.(what, via);
      });
      sock.bind({ port, address }, () => {
        sock.off('error', onError);
        sock.on('error', (err) => log.error({ err }, `proxyDHCP socket on port ${port}: ${err.message}`));
        sock.setBroadcast(true);
        // A lab powering on sends hundreds of DISCOVERs in the same moment (relays
        // forward a whole site's at once): the default ~200 KB receive buffer
        // holds about 150 of them, and the rest were dropped (bench/sites: 34 on
        // a cold start), each costing its client the firmware's 4 s retry. The
        // kernel caps the size at net.core.rmem_max.
        try {
          sock.setRecvBufferSize(4 * 1024 * 1024);
        } catch (err) {
          log.debug({ err }, 'proxyDHCP: could not enlarge the receive buffer');
        }
        resolve(sock);
      });
    });
  }

  return {
    counters,
    /** Binds both ports; fails only when neither can be bound. */
    async listen(): Promise<ListenReport> {
      const [a, b] = await Promise.allSettled([bind(opts.port ?? 67, 'dhcp'), bind(opts.proxyPort ?? 4011, 'proxy')]);
      const report: ListenReport = { dhcp: {}, proxy: {} };
      if (a.status === 'fulfilled') {
        dhcpSock = a.value;
        // Only a wildcard listener needs (and can have) per-address broadcast senders beside it.
        canShareDhcpPort = (opts.bindAddress ?? '0.0.0.0') === '0.0.0.0';
        report.dhcp.port = a.value.address().port;
      } else report.dhcp.error = (a.reason as Error).message;
      if (b.status === 'fulfilled') {
        proxySock = b.value;
        report.proxy.port = b.value.address().port;
      } else report.proxy.error = (b.reason as Error).message;
      if (report.dhcp.error && report.proxy.error) throw new Error(`proxyDHCP cannot listen:\n  ${report.dhcp.error}\n  ${report.proxy.error}`);
      if (report.dhcp.error) log.error(`proxyDHCP: ${report.dhcp.error}; serving only the PXE boot server on port ${report.proxy.port}`);
      if (report.proxy.error) log.error(`proxyDHCP: ${report.proxy.error}; serving only port ${report.dhcp.port} (firmware that asks on 4011, EDK2 among them, will not boot)`);
      log.info({ dhcpPort: report.dhcp.port ?? null, proxyPort: report.proxy.port ?? null, advertise: opts.advertiseIp ?? 'per-subnet', httpBaseUrl: policy.httpBaseUrl }, 'proxyDHCP listening');
      return report;
    },
    async close(): Promise<void> {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const pending = await Promise.all([...senders.values()]);
      senders.clear();
      await Promise.all(
        [dhcpSock, proxySock, ...pending].filter((s): s is dgram.Socket => !!s).map((s) => new Promise<void>((done) => s.close(() => done()))),
      );
      dhcpSock = proxySock = null;
    },
    /**
     * A reload (SIGHUP): loaders, menu, quirks, reply delay and rate limit for
     * the next packet on; the sockets stay bound. Throws (changing nothing) on a bad value.
     */
    reconfigure(next: ProxyDhcpLiveSettings): void {
      const loaders = next.loaders ?? DEFAULT_LOADERS;
      const problems = validate({ ...opts, ...next }, loaders);
      if (problems.length) throw new ProxyDhcpConfigError(problems);
      policy.loaders = loaders;
      policy.menu = next.menu;
      policy.answerWithoutUuid = next.answerWithoutUuid ?? true;
      policy.defaultMode = next.defaultMode ?? 'follow';
      policy.extraVendorClasses = next.extraVendorClasses ?? [];
      policy.macPrefixArch = Object.fromEntries(Object.entries(next.macPrefixArch ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      policy.junkUuidFallback = next.junkUuidFallback ?? true;
      policyGeneration++;
      delay = next.replyDelayMs ?? 0;
      limiter = next.rateLimit === false ? null : createMacRateLimiter(next.rateLimit ?? DEFAULT_RATE_LIMIT);
    },
    /** Ports actually bound (after listen). */
    get ports(): { dhcp: number | null; proxy: number | null } {
      return { dhcp: dhcpSock?.address().port ?? null, proxy: proxySock?.address().port ?? null };
    },
  };
}

export type ProxyDhcpServer = ReturnType<typeof createProxyDhcpServer>;

/** What a reload may change (not ports, addresses or the HTTP base URL). */
export type ProxyDhcpLiveSettings = Pick<ProxyDhcpServerOptions, 'loaders' | 'menu' | 'defaultMode' | 'replyDelayMs' | 'extraVendorClasses' | 'macPrefixArch' | 'junkUuidFallback' | 'answerWithoutUuid' | 'rateLimit'>;

/**
 * The TFTP server: a request socket (port 69, or the fallback) and one
 * ephemeral socket per transfer — its TID (RFC 1350 §4) — or, in single-port
 * mode, every transfer on the request socket. Read-only: loaders out of the
 * loader root and a generated autoexec.ipxe. Packets are decoded by packet.ts,
 * options decided by options.ts, transfers driven by transfer.ts; this file
 * only moves datagrams and keeps the books.
 */
import { createSocket as createDgramSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIPv6 } from 'node:net';
import type { EventLog } from '../boot/events.js';
import type { Logger } from '../log.js';
import { explainBindError } from '../net/bind.js';
import { createLoaderFiles, type LoaderFiles } from './files.js';
import { blksizeMaxFor, DEFAULT_BLKSIZE, DEFAULT_BLKSIZE_MAX, MAX_BLKSIZE, MIN_BLKSIZE, negotiate, parseSubnetLimits, type SubnetLimit } from './options.js';
import { decodePacket, encodeError, ERR, OP, type OptionList, type Packet, type RequestPacket } from './packet.js';
import { Transfer, type Outcome, type Source } from './transfer.js';

export interface TftpServerOptions {
  /** The loader directory: the only files served. */
  root: string;
  /** Default 69. 0 = any free port (tests). */
  port?: number;
  /** Port to use when `port` cannot be bound (no privilege, or taken); unset = fail instead. */
  fallbackPort?: number;
  /** Listen address, default 0.0.0.0. Transfer sockets bind the same address. */
  host?: string;
  log: Logger;
  events?: Pick<EventLog, 'record'>;
  /** The MAC behind a client address, when another part of chainboot knows it (TFTP itself never sees MACs). */
  macForIp?: (ip: string) => string | null | undefined;
  /** The boot correlation id of the client at this address (metrics/boot-id.ts), for events and log lines. */
  bootIdForIp?: (ip: string) => string | undefined;
  /** HTTP base URL for the generated autoexec.ipxe; unset = no generated file. */
  baseUrl?: string;
  /** Largest blksize granted (default 1468: no IP fragmentation on a 1500-byte MTU). */
  blksizeMax?: number;
  /** Per-subnet blksize ceilings; the most specific match wins over blksizeMax. */
  blksizeBySubnet?: SubnetLimit[];
  /** Largest windowsize granted (default 64). */
  windowsizeMax?: number;
  /** Ignore all options, never send an OACK (firmware that breaks on OACK). */
  noOptions?: boolean;
  /** Serve transfers from the request port instead of one port per transfer (clients behind NAT or strict firewalls). */
  singlePort?: boolean;
  /** When a name is missing, serve a file whose name differs only in case. */
  caseInsensitive?: boolean;
  /** Concurrent transfers; a request over it gets an error (default 1000). */
  maxSessions?: number;
  /** Concurrent transfers from one client address (default 32): one host cannot take every session by asking from many ports. */
  maxSessionsPerClient?: number;
  /** Retransmissions of one packet/window before a transfer is given up (default 5). */
  retries?: number;
  /** Retransmission timeout when the client asks for none (default 1000 ms). */
  timeoutMs?: number;
  /** How long close() lets running transfers finish (default 5000 ms). */
  closeTimeoutMs?: number;
  /** Memory cache limits (see files.ts). */
  cacheMaxBytes?: number;
  cacheMaxFileBytes?: number;
  /** Seams for tests: the file store and the socket factory. */
  files?: LoaderFiles;
  createSocket?: (type: SocketType) => Socket;
}

export interface TftpCounters {
  /** Read requests accepted (a file was found and a transfer started). */
  transfers: number;
  completed: number;
  /** Transfers that ended without the last block acknowledged (timeout, client error, shutdown). */
  failed: number;
  /** File bytes acknowledged by clients. */
  bytes: number;
  /** ERROR packets sent (not found, access, busy, write refused, wrong TID …). */
  errors: number;
  /** DATA/OACK packets sent again. */
  retransmits: number;
  /** Datagrams that did not decode; dropped. */
  malformed: number;
  /** Datagrams from a wrong TID, answered with error 5. */
  wrongTid: number;
  /** Requests refused because maxSessions transfers were running. */
  busy: number;
  /** Non-request packets sent to the request port (ignored). */
  stray: number;
  /** Transfers now running. */
  active: number;
}

export class TftpBindError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly port: number,
  ) {
    super(message);
    this.name = 'TftpBindError';
  }
}

export interface TftpServer {
  listen(): Promise<{ port: number; host: string; fallback: boolean }>;
  close(opts?: { deadlineMs?: number }): Promise<void>;
  /** Throws (and changes nothing) on a bad value. */
  reconfigure(next: TftpLiveSettings): void;
  readonly counters: Readonly<TftpCounters>;
  readonly files: LoaderFiles;
}

/** Status in the boot event log, in the HTTP terms the rest of the log uses. */
const STATUS = { ok: 200, notFound: 404, denied: 403, method: 405, timeout: 408, clientError: 499, failed: 500, busy: 503 } as const;

/** Remembered clients whose firmware ignored or refused an OACK: their next request is served without options. */
const OACK_MEMORY_MS = 60_000;
const OACK_MEMORY_MAX = 4096;

// Datagrams only ever go to IP literals (a client's source address): answer at
// once instead of dns.lookup's extra tick per datagram. A host name (the listen
// address in the config) still goes through dns.lookup.
const IPV4_LITERAL = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
function literalLookup(addr: string, opts: LookupOneOptions, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  if (IPV4_LITERAL.test(addr)) return cb(null, addr, 4);
  if (addr.includes(':') && isIPv6(addr)) return cb(null, addr, 6);
  dnsLookup(addr, { ...opts, all: false }, cb);
}

interface Session {
  key: string;
  client: RemoteInfo;
  filename: string;
  mode: string;
  requested: OptionList;
  started: number;
  transfer: Transfer | null;
  socket: Socket | null;
  timer: NodeJS.Timeout | null;
  /** When the retransmission timeout is due (performance.now() ms); the timer may be set for earlier. */
  deadline: number;
  closeFile: () => void;
  detail: Record<string, unknown>;
  ended: boolean;
}

export function createTftpServer(opts: TftpServerOptions): TftpServer {
  const log = opts.log;
  const host = opts.host ?? '0.0.0.0';
  const family: SocketType = isIPv6(host) ? 'udp6' : 'udp4';
  // Limits and quirks a reload (SIGHUP) may change: see reconfigure().
  let { blksizeMax, windowsizeMax, retries, timeoutMs, maxSessions, maxSessionsPerClient, limits, noOptionsQuirk } = checkLimits(opts);

  const files = opts.files ?? createLoaderFiles({ root: opts.root, caseInsensitive: opts.caseInsensitive, baseUrl: opts.baseUrl, cacheMaxBytes: opts.cacheMaxBytes, cacheMaxFileBytes: opts.cacheMaxFileBytes });
  const newSocket = opts.createSocket ?? ((type: SocketType) => createDgramSocket({ type, lookup: literalLookup as never }));

  const counters: TftpCounters = { transfers: 0, completed: 0, failed: 0, bytes: 0, errors: 0, retransmits: 0, malformed: 0, wrongTid: 0, busy: 0, stray: 0, active: 0 };
  const sessions = new Map<string, Session>();
  /** Running transfers per client address. */
  const perClient = new Map<string, number>();
  const oackRefused = new Map<string, number>();
  let main: Socket | null = null;
  let closing: Promise<void> | null = null;
  let drained: (() => void) | null = null;
  let malformedLogged = 0;

  /** Sends an ERROR; `null` = the request socket, which may already be closed during shutdown. */
  function sendError(sock: Socket | null, to: { address: string; port: number }, code: number, message: string): void {
    const via = sock ?? main;
    if (!via) return;
    counters.errors++;
    via.send(encodeError(code, message), to.port, to.address);
  }

  // Replies wait for the end of the event loop's I/O phase and then go out
  // together: every ACK that is already waiting is read first. Sending at once
  // woke the load's reader on every packet, and the server lost its CPU on
  // nearly every send (a context switch per DATA packet); in one burst the
  // reader wakes once for many. Same order per socket; a session that ends
  // sends what it queued before its socket closes (flushSends in endSession).
  const outbox: unknown[] = [];
  let flushScheduled = false;
  function queueSend(sock: Socket, parts: Buffer[], port: number, address: string): void {
    outbox.push(sock, parts, port, address);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushSends);
    }
  }
  function queueClose(sock: Socket): void {
    outbox.push(sock, null, 0, '');
  }
  function flushSends(): void {
    flushScheduled = false;
    const n = outbox.length;
    for (let i = 0; i < n; i += 4) {
      const sock = outbox[i] as Socket;
      const parts = outbox[i + 1] as Buffer[] | null;
      try {
        if (parts) sock.send(parts, outbox[i + 2] as number, outbox[i + 3] as string);
        else sock.close();
      } catch (err) {
        // A socket closed under a queued packet: that packet is lost like any other.
        // (or already closed after a socket error)
        log.debug({ err }, 'TFTP: a queued packet could not be sent');
      }
    }
    outbox.length = 0;
  }

  function record(s: { client: RemoteInfo; filename: string; started: number }, result: string, status: number, detail: Record<string, unknown>): void {
    // Set on the caller's object, so the log line written after the event carries it too.
    if (opts.bootIdForIp) {
      const boot = opts.bootIdForIp(s.client.address);
      if (boot !== undefined) detail.boot = boot;
    }
    opts.events?.record({
      mac: opts.macForIp?.(s.client.address) ?? null,
      clientIp: s.client.address,
      kind: 'tftp',
      request: s.filename,
      result,
      status,
      detail: { clientPort: s.client.port, durationMs: Date.now() - s.started, ...detail },
    });
  }

  function dropMalformed(reason: string, from: RemoteInfo): void {
    counters.malformed++;
    // A flood of garbage must not become a flood of log lines.
    if (malformedLogged < 100 || counters.malformed % 1000 === 0) {
      malformedLogged++;
      log.debug({ from: `${from.address}:${from.port}`, reason, malformed: counters.malformed }, 'TFTP: dropped a malformed packet');
    }
  }

  function onRequestPort(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    const d = decodePacket(msg);
    if (!d.ok) return dropMalformed(d.reason, rinfo);
    const p = d.packet;
    if (p.op === 'rrq') return onReadRequest(p, rinfo, key);
    if (opts.singlePort) {
      const s = sessions.get(key);
      if (s) return deliver(s, p, msg);
      if (p.op === 'wrq') return refuseWrite(p.filename, rinfo);
      if (p.op === 'error') return; // never answer an error with an error
      counters.wrongTid++;
      return sendError(null, rinfo, ERR.UNKNOWN_TID, 'Unknown transfer ID');
    }
    if (p.op === 'wrq') return refuseWrite(p.filename, rinfo);
    // ACK/DATA/ERROR belong on a transfer's own port, never on the request port.
    counters.stray++;
    log.debug({ from: key, op: p.op }, 'TFTP: ignored a non-request packet on the request port');
  }

  function refuseWrite(filename: string, rinfo: RemoteInfo): void {
    sendError(null, rinfo, ERR.ACCESS, 'This server is read-only: write requests are refused');
    record({ client: rinfo, filename, started: Date.now() }, 'write refused (read-only server)', STATUS.method, { outcome: 'write-refused', op: 'WRQ' });
  }

  function onReadRequest(p: RequestPacket, rinfo: RemoteInfo, key: string): void {
    const existing = sessions.get(key);
    if (existing) {
      const t = existing.transfer;
      // Firmware often asks for its next file from the same port, while the last
      // transfer still waits for a final ACK that was lost: the client has moved on.
      // Anything else from the same port is the same request again: a duplicate,
      // or a client that ignores our OACK.
      if (t && (t.allSent || existing.filename !== p.filename)) t.supersede();
      else {
        t?.onRequestRepeated();
        return;
      }
    }
    const base = { client: rinfo, filename: p.filename, started: Date.now() };
    const requested = Object.fromEntries(p.options);
    if (closing) {
      sendError(null, rinfo, ERR.UNDEFINED, 'Server shutting down, try again');
      record(base, 'refused: server shutting down', STATUS.busy, { outcome: 'shutting-down', mode: p.mode, options: requested });
      return;
    }
    if (p.mode === 'mail') {
      sendError(null, rinfo, ERR.ILLEGAL_OP, 'Mail mode is not supported');
      record(base, 'refused: mail mode', STATUS.failed, { outcome: 'bad-mode', mode: p.mode });
      return;
    }
    if (sessions.size >= maxSessions) {
      counters.busy++;
      sendError(null, rinfo, ERR.UNDEFINED, `Server busy (${maxSessions} transfers running), try again`);
      record(base, `refused: ${maxSessions} transfers running`, STATUS.busy, { outcome: 'busy', mode: p.mode, options: requested });
      return;
    }
    const fromClient = perClient.get(rinfo.address) ?? 0;
    if (fromClient >= maxSessionsPerClient) {
      counters.busy++;
      sendError(null, rinfo, ERR.UNDEFINED, `Too many transfers from ${rinfo.address} (${maxSessionsPerClient} running), try again`);
      record(base, `refused: ${maxSessionsPerClient} transfers running from this client`, STATUS.busy, { outcome: 'busy-client', mode: p.mode, options: requested });
      return;
    }
    const s: Session = {
      key,
      client: rinfo,
      filename: p.filename,
      mode: p.mode,
      requested: p.options,
      started: base.started,
      transfer: null,
      socket: null,
      timer: null,
      deadline: 0,
      closeFile: noop,
      detail: { mode: p.mode, options: requested },
      ended: false,
    };
    // In the map before the file lookup, so a duplicate request arriving meanwhile is recognised.
    sessions.set(key, s);
    perClient.set(rinfo.address, fromClient + 1);
    counters.active = sessions.size;
    files.open(p.filename, p.mode).then(
      (r) => {
        // Ended meanwhile (shutdown deadline): nothing to start.
        if (s.ended) {
          if (r.ok) r.close();
          return;
        }
        if (!r.ok) {
          sendError(null, rinfo, r.code, r.message);
          endSession(s, r.code === ERR.NOT_FOUND ? 'not found' : r.code === ERR.ACCESS ? `refused: ${r.reason}` : `error: ${r.reason}`, r.code === ERR.NOT_FOUND ? STATUS.notFound : r.code === ERR.ACCESS ? STATUS.denied : STATUS.failed, {
            outcome: r.code === ERR.NOT_FOUND ? 'not-found' : r.code === ERR.ACCESS ? 'denied' : 'error',
            reason: r.reason,
            tftpError: r.code,
          });
          return;
        }
        s.closeFile = r.close;
        s.detail.file = r.path;
        s.detail.size = r.source.size;
        if (closing) {
          sendError(null, rinfo, ERR.UNDEFINED, 'Server shutting down, try again');
          return endSession(s, 'refused: server shutting down', STATUS.busy, { outcome: 'shutting-down' });
        }
        startTransfer(s, r.source);
      },
      (err: unknown) => {
        if (s.ended) return;
        sendError(null, rinfo, ERR.UNDEFINED, 'Internal error');
        endSession(s, `error: ${(err as Error).message}`, STATUS.failed, { outcome: 'error' });
      },
    );
  }

  function startTransfer(s: Session, source: Source): void {
    const ip = s.client.address;
    let noOptions = noOptionsQuirk;
    const refusedUntil = oackRefused.get(ip);
    if (!noOptions && refusedUntil !== undefined) {
      if (refusedUntil > Date.now()) {
        noOptions = true;
        s.detail.optionsSuppressed = 'this client ignored or refused an OACK recently';
      } else oackRefused.delete(ip);
    }
    const clientMax = blksizeMaxFor(ip, limits, blksizeMax);
    const n = negotiate(s.requested, { blksizeMax: clientMax, windowsizeMax, size: source.size, defaultTimeoutMs: timeoutMs, noOptions });
    s.detail.accepted = Object.fromEntries(n.accepted);
    if (n.ignored.length) s.detail.ignored = n.ignored;

    const begin = (sock: Socket) => {
      const transfer = new Transfer(
        {
          source,
          blksize: n.blksize,
          windowsize: n.windowsize,
          timeoutMs: n.timeoutMs,
          retries,
          oack: n.accepted,
          fallback: { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs },
        },
        {
          send: (parts) => queueSend(sock, parts, s.client.port, s.client.address),
          // One timer per session, moved lazily: a packet only sets the deadline
          // (re-arming a Node timer on every DATA packet costs more than the
          // packet); when the timer fires early it sleeps again for what is left.
          arm: (ms) => {
            const due = performance.now() + ms;
            // A shorter timeout than before (a client that ignored the OACK falls back to the default) must not wait for the old timer.
            if (s.timer && due < s.deadline) {
              clearTimeout(s.timer);
              s.timer = null;
            }
            s.deadline = due;
            if (!s.timer) s.timer = setTimeout(onSessionTimer, ms, s);
          },
          disarm: () => {
            if (s.timer) clearTimeout(s.timer);
            s.timer = null;
          },
          done: (outcome) => finishTransfer(s, outcome),
        },
      );
      s.transfer = transfer;
      counters.transfers++;
      transfer.start();
    };

    if (opts.singlePort) {
      if (!main) return endSession(s, 'refused: server shutting down', STATUS.busy, { outcome: 'shutting-down' });
      return begin(main);
    }

    const sock = newSocket(family);
    s.socket = sock;
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port !== s.client.port || rinfo.address !== s.client.address) {
        // RFC 1350 §4: a packet from another TID gets error 5, and the transfer goes on undisturbed.
        counters.wrongTid++;
        if (msg.length >= 2 && msg.readUInt16BE(0) === OP.ERROR) return;
        return sendError(sock, rinfo, ERR.UNKNOWN_TID, 'Unknown transfer ID');
      }
      deliver(s, null, msg);
    });
    sock.on('error', (err) => {
      if (s.transfer) {
        // A failed send (ENOBUFS …) is a lost packet: the retransmission timer deals with it.
        log.debug({ err, client: s.key }, 'TFTP transfer socket error');
        return;
      }
      // Binding the transfer's own port failed (out of ports or descriptors).
      log.warn({ err, client: s.key }, 'TFTP: cannot open a transfer socket');
      sendError(null, s.client, ERR.UNDEFINED, 'Server cannot open a transfer port, try again');
      endSession(s, `error: transfer socket: ${err.message}`, STATUS.failed, { outcome: 'error' });
    });
    sock.bind({ address: host, port: 0 }, () => {
      if (s.ended) return;
      begin(sock);
    });
  }

  function deliver(s: Session, decoded: Packet | null, msg: Buffer): void {
    const t = s.transfer;
    if (!t) return;
    // The hot path: an ACK, read without building a packet object.
    if (!decoded && msg.length >= 4 && msg[0] === 0 && msg[1] === OP.ACK) return t.onAck(msg.readUInt16BE(2));
    let p = decoded;
    if (!p) {
      const d = decodePacket(msg);
      if (!d.ok) return dropMalformed(d.reason, s.client);
      p = d.packet;
    }
    switch (p.op) {
      case 'ack':
        return t.onAck(p.block);
      case 'error':
        return t.onError(p.code, p.message);
      case 'rrq':
        return t.onRequestRepeated();
      default:
        // DATA, WRQ, OACK make no sense from a reading client.
        counters.stray++;
    }
  }

  function finishTransfer(s: Session, outcome: Outcome): void {
    const t = s.transfer!;
    counters.retransmits += t.retransmits;
    const bytes = t.bytesAcked;
    counters.bytes += bytes;
    const prm = t.params;
    const detail: Record<string, unknown> = {
      outcome: outcome.kind,
      bytes,
      blksize: prm.blksize,
      windowsize: prm.windowsize,
      timeoutMs: prm.timeoutMs,
      bytesSent: t.bytesSent,
      packets: t.packetsSent,
      retransmits: t.retransmits,
      staleAcks: t.staleAcks,
    };
    if (t.oackIgnored) detail.oackIgnored = true;
    let result: string;
    let status: number;
    const size = (s.detail.size as number) ?? 0;
    switch (outcome.kind) {
      case 'complete':
        counters.completed++;
        result = `sent ${size} bytes`;
        status = STATUS.ok;
        break;
      case 'unconfirmed':
        counters.failed++;
        result = `sent ${size} bytes, last ACK never came`;
        status = STATUS.ok;
        break;
      case 'timeout':
        counters.failed++;
        result = outcome.phase === 'oack' ? 'timeout: OACK never acknowledged (firmware that breaks on options? try noOptions)' : `timeout after ${outcome.lastAcked} acknowledged block(s)`;
        status = STATUS.timeout;
        if (outcome.phase === 'oack') rememberOackRefusal(s.client.address);
        break;
      case 'client-error':
        counters.failed++;
        result = `client error ${outcome.code}: ${outcome.message}`;
        status = STATUS.clientError;
        detail.clientError = { code: outcome.code, message: outcome.message, phase: outcome.phase };
        // Only error 8 says "your options": any other error (a user pressing Esc, a
        // client giving up) says nothing about OACK, and must not cost every
        // client behind that address its options.
        if (outcome.phase === 'oack' && outcome.code === ERR.OPTIONS) rememberOackRefusal(s.client.address);
        break;
      case 'aborted':
        counters.failed++;
        result = `aborted: ${outcome.reason}`;
        status = STATUS.busy;
        break;
      case 'superseded':
        counters.failed++;
        result = 'given up: the client sent a new request from the same port';
        status = STATUS.clientError;
        break;
    }
    if (t.oackIgnored) rememberOackRefusal(s.client.address);
    endSession(s, result, status, detail);
  }

  function rememberOackRefusal(ip: string): void {
    if (oackRefused.size >= OACK_MEMORY_MAX) {
      const oldest = oackRefused.keys().next().value;
      if (oldest !== undefined) oackRefused.delete(oldest);
    }
    oackRefused.delete(ip);
    oackRefused.set(ip, Date.now() + OACK_MEMORY_MS);
  }

  function endSession(s: Session, result: string, status: number, detail: Record<string, unknown>): void {
    if (s.ended) return;
    s.ended = true;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    try {
      s.closeFile();
    } catch {
      // closing a read-only descriptor cannot lose data
    }
    if (s.socket) {
      const sock = s.socket;
      s.socket = null;
      // Closed after what it still has to send (the outbox keeps each socket's order).
      if (outbox.length) queueClose(sock);
      else {
        try {
          sock.close();
        } catch {
          // already closed after a socket error
        }
      }
    }
    if (sessions.get(s.key) === s) {
      sessions.delete(s.key);
      const n = (perClient.get(s.client.address) ?? 1) - 1;
      if (n > 0) perClient.set(s.client.address, n);
      else perClient.delete(s.client.address);
    }
    counters.active = sessions.size;
    const all = Object.assign(s.detail, detail);
    record(s, result, status, all);
    // Built only when it will be written: at boot-storm rates the object alone shows in profiles.
    if (status >= 400 ? log.isLevelEnabled('info') : log.isLevelEnabled('debug')) {
      log[status >= 400 ? 'info' : 'debug']({ client: s.key, file: s.filename, ...all }, `TFTP ${s.filename} to ${s.key}: ${result}`);
    }
    if (sessions.size === 0 && drained) drained();
  }

  function bindMain(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = newSocket(family);
      const onError = (err: NodeJS.ErrnoException) => {
        try {
          sock.close();
        } catch {
          // never bound
        }
        reject(err);
      };
      sock.once('error', onError);
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.off('error', onError);
        resolve(sock);
      });
    });
  }

  async function listen(): Promise<{ port: number; host: string; fallback: boolean }> {
    if (main) throw new Error('TFTP server is already listening');
    const want = opts.port ?? 69;
    let sock: Socket;
    let fallback = false;
    let why = '';
    try {
      sock = await bindMain(want);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const explained = explainBindError(err, 'udp', want);
      const fb = opts.fallbackPort;
      if (fb === undefined || fb === want || (err.code !== 'EACCES' && err.code !== 'EADDRINUSE')) throw new TftpBindError(`TFTP: ${explained}`, err.code, want);
      try {
        sock = await bindMain(fb);
      } catch (e2) {
        const err2 = e2 as NodeJS.ErrnoException;
        throw new TftpBindError(`TFTP: ${explained}; and the fallback port: ${explainBindError(err2, 'udp', fb)}`, err2.code, fb);
      }
      fallback = true;
      why = explained;
    }
    main = sock;
    sock.on('message', onRequestPort);
    sock.on('error', (err) => log.error({ err }, 'TFTP request socket error'));
    // A boot storm's read requests all land here at once (and in single-port
    // mode every ACK of every transfer): a bigger receive buffer rides out bursts.
    try {
      sock.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.rmem_max; the default still works
    }
    const port = sock.address().port;
    const mode = `${opts.singlePort ? 'single-port mode' : 'a port per transfer'}${opts.noOptions ? ', option negotiation off' : ''}`;
    if (fallback) {
      log.warn({ port, wanted: want }, `TFTP listening on ${host}:${port} instead of port ${want}: ${why}. PXE firmware only asks port ${want}: redirect it to ${port} or run with the privilege to bind it`);
    } else {
      log.info({ port, root: opts.root }, `TFTP listening on ${host}:${port} (${mode}), serving ${opts.root}${port === 69 ? '' : ` — not port 69: only clients told this port will reach it`}`);
    }
    return { port, host, fallback };
  }

  function close(closeOpts: { deadlineMs?: number } = {}): Promise<void> {
    if (closing) return closing;
    const deadline = closeOpts.deadlineMs ?? opts.closeTimeoutMs ?? 5000;
    closing = (async () => {
      // New requests are refused (with an error) while running transfers finish.
      if (sessions.size > 0) {
        let timer: NodeJS.Timeout | null = null;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, deadline);
        });
        if (timer) clearTimeout(timer);
        drained = null;
        for (const s of [...sessions.values()]) {
          if (s.transfer) s.transfer.abort('Server shutting down');
          else endSession(s, 'aborted: server shutting down', STATUS.busy, { outcome: 'aborted' });
        }
      }
      // The ERRORs of aborted transfers go out before the request socket closes.
      flushSends();
      const m = main;
      main = null;
      if (m) await new Promise<void>((resolve) => m.close(() => resolve()));
    })();
    return closing;
  }

  return {
    listen,
    close,
    /** New limits and quirks for transfers that start from now on; running ones keep what they negotiated. */
    reconfigure(next: TftpLiveSettings): void {
      ({ blksizeMax, windowsizeMax, retries, timeoutMs, maxSessions, maxSessionsPerClient, limits, noOptionsQuirk } = checkLimits(next));
    },
    get counters() {
      return { ...counters };
    },
    files,
  };
}

function noop(): void {}

function onSessionTimer(s: Session): void {
  s.timer = null;
  if (s.ended) return;
  const left = s.deadline - performance.now();
  // Timers may fire up to a millisecond early (they count whole milliseconds).
  if (left >= 1) {
    s.timer = setTimeout(onSessionTimer, Math.ceil(left), s);
    return;
  }
  s.transfer?.onTimeout();
}

/** The settings that may change while the server runs (everything but ports, addresses, root and single-port mode). */
export type TftpLiveSettings = Pick<TftpServerOptions, 'blksizeMax' | 'blksizeBySubnet' | 'windowsizeMax' | 'noOptions' | 'maxSessions' | 'maxSessionsPerClient' | 'retries' | 'timeoutMs'>;

function checkLimits(opts: TftpLiveSettings) {
  const blksizeMax = opts.blksizeMax ?? DEFAULT_BLKSIZE_MAX;
  const windowsizeMax = opts.windowsizeMax ?? 64;
  const retries = opts.retries ?? 5;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const maxSessions = opts.maxSessions ?? 1000;
  const maxSessionsPerClient = opts.maxSessionsPerClient ?? 32;
  const problems: string[] = [];
  if (!Number.isInteger(blksizeMax) || blksizeMax < MIN_BLKSIZE || blksizeMax > MAX_BLKSIZE) problems.push(`blksizeMax ${blksizeMax} is not ${MIN_BLKSIZE}–${MAX_BLKSIZE}`);
  if (!Number.isInteger(windowsizeMax) || windowsizeMax < 1 || windowsizeMax > 32768) problems.push(`windowsizeMax ${windowsizeMax} is not 1–32768`);
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) problems.push(`retries ${retries} is not 0–100`);
  if (!Number.isFinite(timeoutMs) || timeoutMs < 10 || timeoutMs > 255_000) problems.push(`timeoutMs ${timeoutMs} is not 10–255000`);
  if (!Number.isInteger(maxSessions) || maxSessions < 1) problems.push(`maxSessions ${maxSessions} must be a positive integer`);
  if (!Number.isInteger(maxSessionsPerClient) || maxSessionsPerClient < 1) problems.push(`maxSessionsPerClient ${maxSessionsPerClient} must be a positive integer`);
  const subnets = parseSubnetLimits(opts.blksizeBySubnet ?? []);
  if (!subnets.ok) problems.push(...subnets.problems);
  if (problems.length || !subnets.ok) throw new Error(`TFTP server: ${problems.join('; ')}`);
  return { blksizeMax, windowsizeMax, retries, timeoutMs, maxSessions, maxSessionsPerClient, limits: subnets.limits, noOptionsQuirk: opts.noOptions === true };
}

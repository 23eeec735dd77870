/**
 * One read transfer's state machine: OACK, DATA windows (RFC 7440), ACKs,
 * retransmission. It owns no socket and no clock: it sends through `io.send`,
 * asks for a timer with `io.arm`, and is told of packets and timeouts by its
 * owner. So every path — loss, duplicates, a lost final ACK, a block-number
 * wrap — can be driven by a test without a network.
 */
import { encodeDataHeader, encodeError, encodeOack, ERR, type OptionList } from './packet.js';

/** The bytes being served; `read` may return a view (no copy) into a cached buffer. */
export interface Source {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

export interface TransferIo {
  /** Sends one datagram made of these parts, to the client. */
  send(parts: Buffer[]): void;
  /** (Re)starts the retransmission timer; the owner calls timeout() when it fires. */
  arm(ms: number): void;
  disarm(): void;
  /** Called exactly once, when the transfer ends for any reason. */
  done(outcome: Outcome): void;
}

export interface TransferParams {
  source: Source;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Retransmissions of the same OACK or window before giving up. */
  retries: number;
  /** Options to acknowledge; null or empty = none, DATA 1 goes first. */
  oack: OptionList | null;
  /** Transfer parameters for a client that ignored the OACK (RFC 1350 defaults). */
  fallback: { blksize: number; windowsize: number; timeoutMs: number };
}

export type Outcome =
  | { kind: 'complete' }
  /** Every block was sent, the last one never acknowledged: the client probably has the file. */
  | { kind: 'unconfirmed' }
  | { kind: 'timeout'; phase: 'oack' | 'data'; lastAcked: number }
  | { kind: 'client-error'; phase: 'oack' | 'data'; code: number; message: string }
  | { kind: 'aborted'; reason: string }
  /** The client sent a new request from the same port before this one ended. */
  | { kind: 'superseded' };

export type Phase = 'idle' | 'oack' | 'data' | 'done';

export class Transfer {
  private phase: Phase = 'idle';
  private blksize: number;
  private windowsize: number;
  private timeoutMs: number;
  /** Absolute block numbers (never wrapped): the last one the client acknowledged, the highest sent. */
  private lastAcked = 0;
  private highestSent = 0;
  private lastBlock: number;
  private tries = 0;
  private oackSends = 0;
  /** The OACK was given up on because the client re-sent its request instead of ACK 0. */
  oackIgnored = false;
  /** Requests repeated after the OACK was sent again (see onRequestRepeated). */
  private repeatsAfterResend = 0;
  packetsSent = 0;
  retransmits = 0;
  /** Payload bytes on the wire, retransmissions included. */
  bytesSent = 0;
  /** Duplicate or stale ACKs received and deliberately not answered (Sorcerer's Apprentice). */
  staleAcks = 0;

  constructor(
    private readonly p: TransferParams,
    private readonly io: TransferIo,
  ) {
    this.blksize = p.blksize;
    this.windowsize = p.windowsize;
    this.timeoutMs = p.timeoutMs;
    this.lastBlock = Math.floor(p.source.size / this.blksize) + 1;
  }

  get state(): Phase {
    return this.phase;
  }

  /** File bytes the client has acknowledged. */
  get bytesAcked(): number {
    return Math.min(this.lastAcked * this.blksize, this.p.source.size);
  }

  get params(): { blksize: number; windowsize: number; timeoutMs: number } {
    return { blksize: this.blksize, windowsize: this.windowsize, timeoutMs: this.timeoutMs };
  }

  start(): void {
    if (this.phase !== 'idle') return;
    if (this.p.oack && this.p.oack.length > 0) {
      this.phase = 'oack';
      this.sendOack();
    } else {
      this.phase = 'data';
      this.sendWindow();
    }
  }

  onAck(wireBlock: number): void {
    if (this.phase === 'oack') {
      // RFC 2347: ACK 0 accepts the OACK. Anything else is stale or bogus.
      if (wireBlock !== 0) {
        this.staleAcks++;
        return;
      }
      this.phase = 'data';
      this.tries = 0;
      this.sendWindow();
      return;
    }
    if (this.phase !== 'data') return;
    // Map the 16-bit number onto the window in flight; block numbers wrap to 0 after 65535.
    const delta = (wireBlock - (this.lastAcked & 0xffff)) & 0xffff;
    const acked = this.lastAcked + delta;
    if (delta === 0 || acked > this.highestSent) {
      // A duplicate or stale ACK is never answered with data (RFC 1123 §4.2.3.1,
      // the Sorcerer's Apprentice bug): only the timer retransmits.
      this.staleAcks++;
      return;
    }
    this.lastAcked = acked;
    this.tries = 0;
    if (acked >= this.lastBlock) return this.finish({ kind: 'complete' });
    // An ACK inside the window means the client lost what followed: the next window starts after it (RFC 7440 §4).
    this.sendWindow();
  }

  onError(code: number, message: string): void {
    if (this.phase !== 'oack' && this.phase !== 'data') return;
    this.finish({ kind: 'client-error', phase: this.phase, code, message });
  }

  /**
   * The client sent its read request again from the same port. A copy that
   * arrives before the OACK was sent again is a duplicate, and ignored. A
   * client that keeps asking — twice more after the OACK went unanswered for
   * a whole timeout — does not understand OACK: RFC 2347 lets a server decline
   * all options by sending DATA 1 instead, so it gets the transfer with RFC
   * 1350 defaults. One repeat is not enough: a slow client whose request was
   * retransmitted before our OACK reached it has accepted the options, and a
   * 512-byte DATA 1 would look to it like the whole file (bench/sites saw
   * loaders cut to 512 bytes that way under load).
   */
  onRequestRepeated(): void {
    if (this.phase !== 'oack' || this.oackSends < 2) return;
    if (++this.repeatsAfterResend < 2) return;
    this.oackIgnored = true;
    this.blksize = this.p.fallback.blksize;
    this.windowsize = this.p.fallback.windowsize;
    this.timeoutMs = this.p.fallback.timeoutMs;
    this.lastBlock = Math.floor(this.p.source.size / this.blksize) + 1;
    this.phase = 'data';
    this.tries = 0;
    this.sendWindow();
  }

  onTimeout(): void {
    if (this.phase !== 'oack' && this.phase !== 'data') return;
    if (this.tries >= this.p.retries) {
      if (this.phase === 'data' && this.highestSent === this.lastBlock) return this.finish({ kind: 'unconfirmed' });
      return this.finish({ kind: 'timeout', phase: this.phase, lastAcked: this.lastAcked });
    }
    this.tries++;
    if (this.phase === 'oack') this.sendOack(true);
    else this.sendWindow(true);
  }

  /** Every block has been sent at least once (only the ACK of the last may be missing). */
  get allSent(): boolean {
    return this.phase === 'data' && this.highestSent === this.lastBlock;
  }

  /**
   * The client moved on: a new request from the same address and port. A
   * transfer whose blocks were all sent ends as "unconfirmed" (its final ACK
   * was lost), any other as "superseded". Nothing is sent.
   */
  supersede(): void {
    if (this.phase === 'done') return;
    this.finish(this.allSent ? { kind: 'unconfirmed' } : { kind: 'superseded' });
  }

  /** Ends the transfer from outside (shutdown), telling the client why. */
  abort(reason: string): void {
    if (this.phase === 'done') return;
    if (this.phase !== 'idle') this.io.send([encodeError(ERR.UNDEFINED, reason)]);
    this.finish({ kind: 'aborted', reason });
  }

  private sendOack(retransmit = false): void {
    this.oackSends++;
    if (retransmit) this.retransmits++;
    this.packetsSent++;
    this.io.send([encodeOack(this.p.oack!)]);
    this.io.arm(this.timeoutMs);
  }

  private sendWindow(retransmit = false): void {
    const first = this.lastAcked + 1;
    const last = Math.min(this.lastAcked + this.windowsize, this.lastBlock);
    const size = this.p.source.size;
    for (let b = first; b <= last; b++) {
      const offset = (b - 1) * this.blksize;
      const len = Math.max(0, Math.min(this.blksize, size - offset));
      const payload = len > 0 ? this.p.source.read(offset, len) : EMPTY;
      if (retransmit || b <= this.highestSent) this.retransmits++;
      this.packetsSent++;
      this.bytesSent += len;
      this.io.send([encodeDataHeader(b & 0xffff), payload]);
    }
    if (last > this.highestSent) this.highestSent = last;
    this.io.arm(this.timeoutMs);
  }

  private finish(outcome: Outcome): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.io.disarm();
    this.io.done(outcome);
  }
}

const EMPTY = Buffer.alloc(0);

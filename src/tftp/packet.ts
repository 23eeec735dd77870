/**
 * TFTP packets (RFC 1350, options per RFC 2347): pure decode/encode over
 * Buffers. No sockets, no logs, no policy — what a server does with a packet
 * is decided elsewhere.
 */

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes, RFC 1350 §5 and RFC 2347 (8). */
export const ERR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL_OP: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTIONS: 8,
} as const;

export type Mode = 'octet' | 'netascii' | 'mail';

/** Options in the order the client sent them; names lower-cased (RFC 2347: case-insensitive). */
export type OptionList = [name: string, value: string][];

export interface RequestPacket {
  op: 'rrq' | 'wrq';
  filename: string;
  mode: Mode;
  options: OptionList;
}

export type Packet =
  | RequestPacket
  | { op: 'data'; block: number; data: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: OptionList };

export type Decoded = { ok: true; packet: Packet } | { ok: false; reason: string };

// A Map, not an object literal: a mode of "constructor" or "__proto__" must not find Object.prototype's members.
const MODES: ReadonlyMap<string, Mode> = new Map([
  ['octet', 'octet'],
  ['netascii', 'netascii'],
  ['mail', 'mail'],
]);

/**
 * Splits NUL-terminated strings from `start`. A final string without its NUL
 * is reported, not guessed at.
 */
function cStrings(buf: Buffer, start: number): { strings: string[] } | { problem: string } {
  const strings: string[] = [];
  let at = start;
  while (at < buf.length) {
    const nul = buf.indexOf(0, at);
    if (nul < 0) return { problem: `string at offset ${at} has no NUL terminator (${buf.length - at} bytes left)` };
    // latin1 keeps every byte as one char: file names from firmware are not always UTF-8.
    strings.push(buf.toString('latin1', at, nul));
    at = nul + 1;
  }
  return { strings };
}

function decodeOptions(strings: string[], from: number, what: string): { options: OptionList } | { problem: string } {
  // Some firmware pads requests with extra NULs: trailing empty strings are
  // padding — but only one that cannot be an option's value: an empty value
  // right after its name ("tsize\0\0") is kept, so a padded request and an
  // option with an empty value both decode as sent.
  let end = strings.length;
  while (end > from && strings[end - 1] === '' && ((end - from) % 2 === 1 || strings[end - 2] === '')) end--;
  if ((end - from) % 2 !== 0) return { problem: `${what}: option "${strings[end - 1]}" has no value` };
  const options: OptionList = [];
  for (let i = from; i < end; i += 2) {
    const name = strings[i]!.toLowerCase();
    if (name === '') return { problem: `${what}: empty option name at option ${(i - from) / 2 + 1}` };
    options.push([name, strings[i + 1]!]);
  }
  return { options };
}

export function decodePacket(buf: Buffer): Decoded {
  if (buf.length < 2) return { ok: false, reason: `packet of ${buf.length} bytes, the opcode alone needs 2` };
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP.RRQ:
    case OP.WRQ: {
      const name = op === OP.RRQ ? 'RRQ' : 'WRQ';
      const s = cStrings(buf, 2);
      if ('problem' in s) return { ok: false, reason: `${name}: ${s.problem}` };
      if (s.strings.length < 2) return { ok: false, reason: `${name}: needs a file name and a mode, got ${s.strings.length} string(s)` };
      const filename = s.strings[0]!;
      if (filename === '') return { ok: false, reason: `${name}: empty file name` };
      const mode = MODES.get(s.strings[1]!.toLowerCase());
      if (!mode) return { ok: false, reason: `${name}: unknown mode ${JSON.stringify(s.strings[1])}` };
      const o = decodeOptions(s.strings, 2, name);
      if ('problem' in o) return { ok: false, reason: o.problem };
      return { ok: true, packet: { op: op === OP.RRQ ? 'rrq' : 'wrq', filename, mode, options: o.options } };
    }
    case OP.DATA:
      if (buf.length < 4) return { ok: false, reason: `DATA of ${buf.length} bytes, the header alone needs 4` };
      return { ok: true, packet: { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case OP.ACK:
      // Some clients append padding to ACKs; the block number is all that counts.
      if (buf.length < 4) return { ok: false, reason: `ACK of ${buf.length} bytes, needs 4` };
      return { ok: true, packet: { op: 'ack', block: buf.readUInt16BE(2) } };
    case OP.ERROR: {
      if (buf.length < 4) return { ok: false, reason: `ERROR of ${buf.length} bytes, the header alone needs 4` };
      const code = buf.readUInt16BE(2);
      // A missing NUL after the message is common enough to tolerate on an error.
      const nul = buf.indexOf(0, 4);
      const message = buf.toString('latin1', 4, nul < 0 ? buf.length : nul);
      return { ok: true, packet: { op: 'error', code, message } };
    }
    case OP.OACK: {
      const s = cStrings(buf, 2);
      if ('problem' in s) return { ok: false, reason: `OACK: ${s.problem}` };
      const o = decodeOptions(s.strings, 0, 'OACK');
      if ('problem' in o) return { ok: false, reason: o.problem };
      return { ok: true, packet: { op: 'oack', options: o.options } };
    }
    default:
      return { ok: false, reason: `unknown opcode ${op}` };
  }
}

function cString(s: string): Buffer {
  if (s.includes('\0')) throw new RangeError(`string ${JSON.stringify(s)} contains a NUL`);
  return Buffer.from(s + '\0', 'latin1');
}

function withOp(op: number, parts: Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(op, 0);
  return Buffer.concat([head, ...parts]);
}

function checkBlock(block: number): void {
  if (!Number.isInteger(block) || block < 0 || block > 0xffff) throw new RangeError(`block number ${block} is not 0–65535`);
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: Mode, options: OptionList = []): Buffer {
  return withOp(op === 'rrq' ? OP.RRQ : OP.WRQ, [cString(filename), cString(mode), ...options.flatMap(([k, v]) => [cString(k), cString(v)])]);
}

export function encodeOack(options: OptionList): Buffer {
  return withOp(OP.OACK, options.flatMap(([k, v]) => [cString(k), cString(v)]));
}

export function encodeAck(block: number): Buffer {
  checkBlock(block);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block, 2);
  return b;
}

/** The 4-byte DATA header alone: sent together with a slice of the file, so the payload is never copied. */
export function encodeDataHeader(block: number): Buffer {
  checkBlock(block);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.DATA, 0);
  b.writeUInt16BE(block, 2);
  return b;
}

export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([encodeDataHeader(block), data]);
}

export function encodeError(code: number, message: string): Buffer {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) throw new RangeError(`error code ${code} is not 0–65535`);
  // Firmware shows this text to a person: keep it printable and short enough for one datagram.
  const clean = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
  const b = Buffer.alloc(4 + clean.length + 1);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code, 2);
  b.write(clean, 4, 'latin1');
  return b;
}

export function encodePacket(p: Packet): Buffer {
  switch (p.op) {
    case 'rrq':
    case 'wrq':
      return encodeRequest(p.op, p.filename, p.mode, p.options);
    case 'data':
      return encodeData(p.block, p.data);
    case 'ack':
      return encodeAck(p.block);
    case 'error':
      return encodeError(p.code, p.message);
    case 'oack':
      return encodeOack(p.options);
  }
}

/**
 * Netascii (RFC 764 as used by RFC 1350): CR LF for a line end, CR NUL for a
 * bare CR. A file stored with Unix line ends is converted on the way out.
 */
export function toNetascii(buf: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x0a || c === 0x0d) extra++;
  }
  if (extra === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + extra);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else out[o++] = c;
  }
  return out;
}

/** The inverse of toNetascii (for clients and tests). A CR at the very end is kept. */
export function fromNetascii(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0d && i + 1 < buf.length && (buf[i + 1] === 0x0a || buf[i + 1] === 0x00)) {
      out[o++] = buf[i + 1] === 0x0a ? 0x0a : 0x0d;
      i++;
    } else out[o++] = c;
  }
  return out.subarray(0, o);
}

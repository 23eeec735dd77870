/**
 * BOOTP/DHCP packets as plain data, and their wire form (RFC 951, RFC 2131,
 * RFC 2132, RFC 3396). Pure: no sockets, no logging, no configuration.
 *
 * Options are kept as a Map from code to value bytes. An option that appears
 * more than once is concatenated in order (RFC 3396 §7: options field first,
 * then `file`, then `sname` when option 52 overloads them), so callers always
 * see one value per code. Encoding splits values over 255 bytes into several
 * instances and, when the options field is full, overloads `file` and `sname`.
 */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** op … file: the fixed BOOTP header (RFC 951), before the magic cookie. */
export const BOOTP_HEADER_LEN = 236;
const OPTIONS_START = BOOTP_HEADER_LEN + 4;
const SNAME_OFFSET = 44;
const SNAME_LEN = 64;
const FILE_OFFSET = 108;
const FILE_LEN = 128;

/** RFC 2132 §9.6 message types. */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));

export function messageTypeName(t: number | null): string {
  if (t === null) return 'BOOTP';
  return MESSAGE_NAMES[t] ?? `type-${t}`;
}

/** Option codes chainboot reads or writes. */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  HOSTNAME: 12,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MAX_MESSAGE_SIZE: 57,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte chaddr field as sent; the hardware address is its first `hlen` bytes. */
  chaddr: Buffer;
  /** Server host name field; '' when empty or when option 52 used it for options. */
  sname: string;
  /** Boot file field; '' when empty or when option 52 used it for options. */
  file: string;
  /** One value per code, instances concatenated (RFC 3396). Option 52 is not kept: it is a wire detail. */
  options: Map<number, Buffer>;
}

export class PacketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PacketError';
  }
}

export const BROADCAST_FLAG = 0x8000;

// ---- addresses --------------------------------------------------------

const ANY = '0.0.0.0';

export function ipFromBytes(buf: Buffer, offset = 0): string {
  const a = buf[offset]!;
  const b = buf[offset + 1]!;
  const c = buf[offset + 2]!;
  const d = buf[offset + 3]!;
  // Most address fields of a DISCOVER are empty: no string to build.
  if ((a | b | c | d) === 0) return ANY;
  return `${a}.${b}.${c}.${d}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== null;
}

/** Dotted quad → 32-bit number, or null. Hand-rolled: it runs several times per packet. */
export function parseIpv4(s: string): number | null {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return null;
  }
  if (dots !== 3 || digits === 0) return null;
  return n * 256 + part;
}

function writeIp(buf: Buffer, offset: number, ip: string): void {
  const n = parseIpv4(ip);
  if (n === null) throw new PacketError(`"${ip}" is not an IPv4 address`);
  buf.writeUInt32BE(n, offset);
}

export function ipToBytes(ip: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  writeIp(b, 0, ip);
  return b;
}

export function ipToNumber(ip: string): number {
  const n = parseIpv4(ip);
  if (n === null) throw new PacketError(`"${ip}" is not an IPv4 address`);
  return n;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The client's hardware address in the lower-case colon form, or null when it is not a 6-byte Ethernet address. */
export function clientMac(p: DhcpPacket): string | null {
  if (p.htype !== 1 || p.hlen !== 6) return null;
  const c = p.chaddr;
  return `${HEX[c[0]!]}:${HEX[c[1]!]}:${HEX[c[2]!]}:${HEX[c[3]!]}:${HEX[c[4]!]}:${HEX[c[5]!]}`;
}

// ---- decoding ---------------------------------------------------------

function readCString(buf: Buffer, offset: number, len: number): string {
  if (buf[offset] === 0) return '';
  const field = buf.subarray(offset, offset + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('latin1');
}

/**
 * Reads the options in buf[start, end) into `into`. A code seen again goes to
 * `repeats` (with its first value), to be concatenated in order: one Map
 * entry and one view per option in the common case of no repeats. `where`
 * names the area for error messages.
 */
function readOptionArea(buf: Buffer, start: number, end: number, where: string, into: Map<number, Buffer>, repeats: Map<number, Buffer[]>): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (code === Opt.END) return;
    if (i + 1 >= end) throw new PacketError(`${where}: option ${code} at offset ${i} has no length byte (the area ends at ${end})`);
    const len = buf[i + 1]!;
    const remain = end - i - 2;
    if (len > remain) throw new PacketError(`${where}: option ${code} at offset ${i} claims ${len} bytes, ${remain} remain`);
    const value = buf.subarray(i + 2, i + 2 + len);
    const first = into.get(code);
    if (first === undefined) into.set(code, value);
    else {
      const list = repeats.get(code);
      if (list) list.push(value);
      else repeats.set(code, [first, value]);
    }
    i += 2 + len;
  }
  // No END option: RFC 2131 requires one, but firmware that stops at the
  // buffer's end is common enough that a complete last option is accepted.
}

export function decodePacket(buf: Buffer): DhcpPacket {
  if (buf.length < BOOTP_HEADER_LEN) throw new PacketError(`packet is ${buf.length} bytes; a BOOTP header needs ${BOOTP_HEADER_LEN}`);
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new PacketError(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const hlen = buf[2]!;
  if (hlen > 16) throw new PacketError(`hlen ${hlen} is larger than the 16-byte chaddr field`);
  if (buf.length < OPTIONS_START) throw new PacketError(`packet is ${buf.length} bytes: no room for the DHCP magic cookie (needs ${OPTIONS_START})`);
  const cookie = buf.readUInt32BE(BOOTP_HEADER_LEN);
  if (cookie !== MAGIC_COOKIE) throw new PacketError(`magic cookie is 0x${cookie.toString(16).padStart(8, '0')}, expected 0x63825363`);

  // Option values and chaddr are views into `buf` (no copies): decode a buffer nobody will overwrite.
  const options = new Map<number, Buffer>();
  const repeats = new Map<number, Buffer[]>();
  readOptionArea(buf, OPTIONS_START, buf.length, 'options', options, repeats);
  let overload = 0;
  if (options.has(Opt.OVERLOAD)) {
    const parts = repeats.get(Opt.OVERLOAD);
    const v = parts ? Buffer.concat(parts) : options.get(Opt.OVERLOAD)!;
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) throw new PacketError(`option 52 (overload) must be 1 byte of 1, 2 or 3; got ${v.length} byte(s)${v.length ? ` starting ${v[0]}` : ''}`);
    overload = v[0]!;
    options.delete(Opt.OVERLOAD);
    repeats.delete(Opt.OVERLOAD);
    // RFC 3396 §7: options field, then file, then sname.
    if (overload & 1) readOptionArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_LEN, 'file field (overloaded)', options, repeats);
    if (overload & 2) readOptionArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LEN, 'sname field (overloaded)', options, repeats);
    // Option 52 is a wire detail (and only meaningful in the options field).
    options.delete(Opt.OVERLOAD);
    repeats.delete(Opt.OVERLOAD);
  }
  // RFC 3396: instances of one code are one value, concatenated in order.
  if (repeats.size) for (const [code, parts] of repeats) options.set(code, Buffer.concat(parts));

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: buf.subarray(28, 44),
    sname: overload & 2 ? '' : readCString(buf, SNAME_OFFSET, SNAME_LEN),
    file: overload & 1 ? '' : readCString(buf, FILE_OFFSET, FILE_LEN),
    options,
  };
}

// ---- encoding ---------------------------------------------------------

export interface EncodeOptions {
  /**
   * Largest packet to produce (BOOTP header through END). 576 is the size
   * every DHCP client must accept (RFC 2131 §2); a client's option 57 may
   * allow more.
   */
  maxSize?: number;
  /** Pad to at least this size: some BOOTP-era firmware drops replies under 300 bytes (RFC 1542 §3.2.1). */
  minSize?: number;
}

function writeCString(buf: Buffer, offset: number, len: number, s: string, field: string): void {
  // latin1: one byte per UTF-16 unit, its low byte (as Buffer.from(s, 'latin1')).
  if (s.length > len - 1) throw new PacketError(`${field} is ${s.length} bytes; the field holds ${len - 1} and a NUL`);
  for (let i = 0; i < s.length; i++) buf[offset + i] = s.charCodeAt(i) & 0xff;
}

/** The fixed header (op … chaddr) and the magic cookie; sname, file and the padding must be zero already. */
function writeHeader(buf: Buffer, p: DhcpPacket): void {
  buf[0] = p.op;
  buf[1] = p.htype;
  buf[2] = p.hlen;
  buf[3] = p.hops;
  buf.writeUInt32BE(p.xid >>> 0, 4);
  buf.writeUInt16BE(p.secs, 8);
  buf.writeUInt16BE(p.flags, 10);
  writeIp(buf, 12, p.ciaddr);
  writeIp(buf, 16, p.yiaddr);
  writeIp(buf, 20, p.siaddr);
  writeIp(buf, 24, p.giaddr);
  p.chaddr.copy(buf, 28);
  buf.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_LEN);
}

interface Area {
  start: number;
  end: number; // exclusive, leaves room for END
  pos: number;
}

/** Wire size of one option: code and length per 255-byte instance (an empty value is one instance). */
function optionWireSize(len: number): number {
  return len === 0 ? 2 : len + 2 * Math.ceil(len / 255);
}

/** Writes one option at pos, split into 255-byte instances (RFC 3396); returns the new position. */
function writeOption(buf: Buffer, pos: number, code: number, value: Buffer): number {
  let off = 0;
  do {
    const chunk = Math.min(255, value.length - off);
    buf[pos++] = code;
    buf[pos++] = chunk;
    value.copy(buf, pos, off, off + chunk);
    pos += chunk;
    off += chunk;
  } while (off < value.length);
  return pos;
}

export function encodePacket(p: DhcpPacket, eo: EncodeOptions = {}): Buffer {
  const maxSize = eo.maxSize ?? 576;
  const minSize = eo.minSize ?? 300;
  if (maxSize < OPTIONS_START + 1) throw new PacketError(`maxSize ${maxSize} is below the ${OPTIONS_START + 1} bytes of a header, cookie and END`);
  if (p.chaddr.length > 16) throw new PacketError(`chaddr is ${p.chaddr.length} bytes; the field holds 16`);

  let need = 0;
  for (const [code, value] of p.options) {
    if (code === Opt.OVERLOAD) continue;
    if (code === Opt.PAD || code === Opt.END || code < 0 || code > 255 || !Number.isInteger(code)) throw new PacketError(`option code ${code} cannot carry a value`);
    need += optionWireSize(value.length);
  }
  if (need > maxSize - 1 - OPTIONS_START) return encodeOverloaded(p, maxSize, minSize, need);

  // The common case: every option fits in the options field. One buffer of
  // the final size, from Node's pool (cheap at DISCOVER-storm rates), zeroed
  // (sname, file and the padding up to minSize stay zero).
  const size = Math.max(OPTIONS_START + need + 1, minSize);
  const buf = Buffer.allocUnsafe(size).fill(0);
  writeHeader(buf, p);
  writeCString(buf, FILE_OFFSET, FILE_LEN, p.file, 'file');
  writeCString(buf, SNAME_OFFSET, SNAME_LEN, p.sname, 'sname');
  let pos = OPTIONS_START;
  // Message type first: some firmware only looks for it at the start.
  const type = p.options.get(Opt.MESSAGE_TYPE);
  if (type) pos = writeOption(buf, pos, Opt.MESSAGE_TYPE, type);
  for (const [code, value] of p.options) {
    if (code === Opt.MESSAGE_TYPE || code === Opt.OVERLOAD) continue;
    pos = writeOption(buf, pos, code, value);
  }
  buf[pos] = Opt.END;
  return buf;
}

/** Options that do not fit the options field: overload `file` and `sname` (RFC 2131 §4.1, RFC 3396) when they are free. */
function encodeOverloaded(p: DhcpPacket, maxSize: number, minSize: number, need: number): Buffer {
  const order = [...p.options.keys()].filter((c) => c !== Opt.OVERLOAD);
  order.sort((a, b) => (a === Opt.MESSAGE_TYPE ? -1 : b === Opt.MESSAGE_TYPE ? 1 : 0));

  const buf = Buffer.allocUnsafe(Math.max(maxSize, minSize)).fill(0);
  writeHeader(buf, p);

  const main: Area = { start: OPTIONS_START, end: maxSize - 1, pos: OPTIONS_START };
  const areas: Area[] = [main];
  let overload = 0;
  // Option 52 leads the options field, then `file` and `sname` carry the rest.
  if (!p.file) {
    overload |= 1;
    areas.push({ start: FILE_OFFSET, end: FILE_OFFSET + FILE_LEN - 1, pos: FILE_OFFSET });
  }
  if (!p.sname) {
    overload |= 2;
    areas.push({ start: SNAME_OFFSET, end: SNAME_OFFSET + SNAME_LEN - 1, pos: SNAME_OFFSET });
  }
  if (overload) {
    buf[main.pos++] = Opt.OVERLOAD;
    buf[main.pos++] = 1;
    buf[main.pos++] = overload;
  }
  if (!(overload & 1)) writeCString(buf, FILE_OFFSET, FILE_LEN, p.file, 'file');
  if (!(overload & 2)) writeCString(buf, SNAME_OFFSET, SNAME_LEN, p.sname, 'sname');

  let ai = 0;
  for (const code of order) {
    const value = p.options.get(code)!;
    let off = 0;
    do {
      let area = areas[ai]!;
      // An instance needs its code, length and at least one byte (or none, for an empty value).
      while (area.end - area.pos < (value.length === 0 ? 2 : 3)) {
        ai++;
        if (ai >= areas.length) throw new PacketError(`options need ${need} bytes; they do not fit in a ${maxSize}-byte packet${overload ? ' even with file/sname overloaded' : ''} (ran out at option ${code})`);
        area = areas[ai]!;
      }
      const chunk = Math.min(255, value.length - off, area.end - area.pos - 2);
      buf[area.pos++] = code;
      buf[area.pos++] = chunk;
      value.copy(buf, area.pos, off, off + chunk);
      area.pos += chunk;
      off += chunk;
    } while (off < value.length);
  }
  for (const a of areas) buf[a.pos++] = Opt.END;
  // Overloaded fields are terminated by END; the rest stays zero (pad).
  return buf.subarray(0, Math.max(main.pos, minSize));
}

// ---- option values ----------------------------------------------------

export function optString(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  return v ? v.toString('latin1') : null;
}

export function optU8(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length >= 1 ? v[0]! : null;
}

export function messageType(p: DhcpPacket): number | null {
  const v = p.options.get(Opt.MESSAGE_TYPE);
  return v && v.length === 1 ? v[0]! : null;
}

/** RFC 4578 §2.1: a list of 16-bit architecture types. */
export function clientArchitectures(p: DhcpPacket): { archs: number[]; problem?: string } {
  const v = p.options.get(Opt.CLIENT_ARCH);
  if (!v) return { archs: [] };
  if (v.length === 0 || v.length % 2) return { archs: [], problem: `option 93 is ${v.length} bytes; architecture types are 2 bytes each` };
  const archs: number[] = [];
  for (let i = 0; i < v.length; i += 2) archs.push(v.readUInt16BE(i));
  return { archs };
}

/**
 * Option 77. RFC 3004 makes it a list of length-prefixed class names, but
 * iPXE and many firmwares send one bare string ("iPXE"); a value that does not
 * parse exactly as RFC 3004 is taken as one bare string.
 */
export function userClasses(p: DhcpPacket): string[] {
  const v = p.options.get(Opt.USER_CLASS);
  if (!v || v.length === 0) return [];
  const out: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return [v.toString('latin1')];
    out.push(v.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return out;
}

export function parameterRequestList(p: DhcpPacket): Set<number> {
  return new Set(p.options.get(Opt.PARAMETER_LIST) ?? []);
}

/** Whether the client's option 55 asks for `code` (no Set built: this runs per reply). */
export function requestsOption(p: DhcpPacket, code: number): boolean {
  const v = p.options.get(Opt.PARAMETER_LIST);
  if (!v) return false;
  for (let i = 0; i < v.length; i++) if (v[i] === code) return true;
  return false;
}

/** Largest reply the client accepts (option 57, RFC 2132 §9.10), within [576, 1500]. */
export function maxReplySize(p: DhcpPacket): number {
  const v = p.options.get(Opt.MAX_MESSAGE_SIZE);
  if (!v || v.length !== 2) return 576;
  // Option 57 counts the IP and UDP headers (28 bytes) as well.
  return Math.min(1472, Math.max(576, v.readUInt16BE(0) - 28));
}

/**
 * BOOTP/DHCP codec: any bytes decode to a packet or a PacketError (never
 * another error), decoded values never outgrow the datagram, generated
 * packets survive encode → decode at any size the encoder accepts (with
 * file/sname overloading), and the proxy decides on anything that decodes.
 */
import fc from 'fast-check';
import {
  BOOTP_HEADER_LEN,
  clientArchitectures,
  clientMac,
  decodePacket,
  encodePacket,
  maxReplySize,
  messageType,
  Opt,
  PacketError,
  userClasses,
  type DhcpPacket,
} from '../../../src/dhcp/packet.js';
import { proxyReply, type ProxyContext } from '../../../src/dhcp/proxy.js';
import { CLIENTS, rawRequest } from '../../dhcp/helpers/wire.js';
import { bytes, latin1, mutated } from '../arb.js';
import type { FuzzCase } from '../case.js';

const u8 = fc.integer({ min: 0, max: 255 });
const ip = fc.tuple(u8, u8, u8, u8).map((q) => q.join('.'));
const optionCode = fc.integer({ min: 1, max: 254 }).filter((c) => c !== Opt.OVERLOAD);

export const packetArb = (maxValue: number, maxOptions: number): fc.Arbitrary<DhcpPacket> =>
  fc
    .record({
      op: fc.constantFrom(1, 2),
      htype: u8,
      hlen: fc.integer({ min: 0, max: 16 }),
      hops: u8,
      xid: fc.integer({ min: 0, max: 0xffffffff }),
      secs: fc.integer({ min: 0, max: 0xffff }),
      flags: fc.integer({ min: 0, max: 0xffff }),
      ciaddr: ip,
      yiaddr: ip,
      siaddr: ip,
      giaddr: ip,
      chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
      sname: fc.oneof(fc.constant(''), latin1({ maxLength: 63, noNul: true })),
      file: fc.oneof(fc.constant(''), latin1({ maxLength: 127, noNul: true })),
      options: fc
        .uniqueArray(fc.tuple(optionCode, fc.uint8Array({ maxLength: maxValue }).map((a) => Buffer.from(a))), { selector: (o) => o[0], maxLength: maxOptions })
        .map((list) => new Map(list)),
    })
    .map((p) => p as DhcpPacket);

function samePacket(a: DhcpPacket, b: DhcpPacket): string | null {
  for (const k of ['op', 'htype', 'hlen', 'hops', 'xid', 'secs', 'flags', 'ciaddr', 'yiaddr', 'siaddr', 'giaddr', 'sname', 'file'] as const) {
    if (a[k] !== b[k]) return `${k}: ${JSON.stringify(a[k])} became ${JSON.stringify(b[k])}`;
  }
  if (!a.chaddr.equals(b.chaddr)) return 'chaddr differs';
  if (a.options.size !== b.options.size) return `${a.options.size} options became ${b.options.size}`;
  for (const [code, v] of a.options) {
    const w = b.options.get(code);
    if (!w || !w.equals(v)) return `option ${code} differs`;
  }
  return null;
}

const seeds = Object.values(CLIENTS).map((c) => rawRequest(c()));
/** Requests from real firmware layouts, and random encoded packets, damaged. */
const damaged = mutated(fc.oneof(fc.constantFrom(...seeds), packetArb(40, 12).map((p) => encodePacket(p, { maxSize: 1500 }))), 6);
/** A valid header and cookie followed by random option bytes: the option walker's input. */
const randomOptions = fc.tuple(fc.constantFrom(...seeds), bytes(400), fc.integer({ min: 0, max: 3 })).map(([s, tail, overload]) => {
  const head = Buffer.from(s.subarray(0, BOOTP_HEADER_LEN + 4));
  if (overload) {
    // Random bytes in file/sname too, announced by option 52.
    for (let i = 44; i < 236; i++) head[i] = tail[i % Math.max(1, tail.length)] ?? 0;
    return Buffer.concat([head, Buffer.from([Opt.OVERLOAD, 1, overload]), tail]);
  }
  return Buffer.concat([head, tail]);
});
const anyDhcpBytes = fc.oneof(bytes(700), damaged, randomOptions);

const proxyCtx: ProxyContext = {
  via: 'dhcp',
  source: { address: '0.0.0.0', port: 68 },
  server: { address: '10.0.0.5' },
  policy: { loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi' }, httpBaseUrl: 'http://10.0.0.5:8080' },
  hostMode: () => undefined,
};

function decodeOrRejection(buf: Buffer): DhcpPacket | null {
  try {
    return decodePacket(buf);
  } catch (e) {
    if (e instanceof PacketError) return null;
    throw new Error(`decodePacket threw ${(e as Error).name}, not a PacketError: ${(e as Error).message}`);
  }
}

export const dhcpCases: FuzzCase[] = [
  {
    name: 'dhcp: any bytes → packet or PacketError; values within the datagram; accessors never throw',
    runs: 3000,
    setup: () => ({
      property: fc.property(anyDhcpBytes, (buf) => {
        const p = decodeOrRejection(buf);
        if (!p) return;
        let total = 0;
        for (const v of p.options.values()) total += v.length;
        if (total > buf.length) throw new Error(`${total} option bytes from a ${buf.length}-byte packet`);
        if (p.options.has(Opt.PAD) || p.options.has(Opt.END) || p.options.has(Opt.OVERLOAD)) throw new Error('PAD, END or OVERLOAD kept as an option');
        if (p.sname.length > 64 || p.file.length > 128) throw new Error('sname/file longer than their fields');
        clientMac(p);
        messageType(p);
        userClasses(p);
        clientArchitectures(p);
        const max = maxReplySize(p);
        if (!(max >= 576 && max <= 1472)) throw new Error(`maxReplySize ${max}`);
      }),
    }),
  },
  {
    name: 'dhcp: generated packet → encode (576…1500, overloading file/sname) → decode is the same packet',
    runs: 1500,
    setup: () => ({
      property: fc.property(packetArb(300, 20), fc.integer({ min: 576, max: 1500 }), (p, maxSize) => {
        let wire: Buffer;
        try {
          wire = encodePacket(p, { maxSize });
        } catch (e) {
          if (e instanceof PacketError && /do not fit/.test(e.message)) return; // too many options for this size: a typed refusal
          throw e;
        }
        if (wire.length > Math.max(maxSize, 300)) throw new Error(`encoded ${wire.length} bytes, maxSize ${maxSize}`);
        const diff = samePacket(p, decodePacket(wire));
        if (diff) throw new Error(diff);
      }),
    }),
  },
  {
    name: 'dhcp: decode → encode → decode is stable for anything that decodes',
    runs: 2000,
    setup: () => ({
      property: fc.property(anyDhcpBytes, (buf) => {
        const p = decodeOrRejection(buf);
        if (!p) return;
        let wire: Buffer;
        try {
          wire = encodePacket(p, { maxSize: 65_000 });
        } catch (e) {
          // A 64-byte sname or 128-byte file without a NUL is taken on decode but cannot be sent back.
          if (e instanceof PacketError && /the field holds/.test(e.message)) return;
          throw e;
        }
        const diff = samePacket(p, decodePacket(wire));
        if (diff) throw new Error(diff);
      }),
    }),
  },
  {
    name: 'dhcp: proxyReply decides on any decodable request and its reply encodes',
    runs: 1500,
    setup: () => ({
      property: fc.property(anyDhcpBytes, fc.constantFrom<'dhcp' | 'proxy'>('dhcp', 'proxy'), (buf, via) => {
        const p = decodeOrRejection(buf);
        if (!p || p.op !== 1) return;
        const d = proxyReply(p, { ...proxyCtx, via });
        if ('ignore' in d) return;
        const wire = encodePacket(d.reply, { maxSize: maxReplySize(p) });
        decodePacket(wire);
      }),
    }),
  },
];

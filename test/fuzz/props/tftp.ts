/**
 * TFTP codec and option negotiation: decodePacket never throws and returns
 * only well-typed packets, generated packets survive encode → decode, and
 * negotiate never grants more than asked or allowed.
 */
import fc from 'fast-check';
import { decodePacket, encodePacket, fromNetascii, toNetascii, type Packet, type OptionList } from '../../../src/tftp/packet.js';
import { blksizeMaxFor, MAX_BLKSIZE, MIN_BLKSIZE, negotiate, parseSubnetLimits, parseSubnetLimitText } from '../../../src/tftp/options.js';
import { bytes, latin1, mutated, textOf } from '../arb.js';
import type { FuzzCase } from '../case.js';

const OPTION_NAMES = ['blksize', 'tsize', 'timeout', 'windowsize', 'multicast', 'BLKSIZE', 'TSize', '__proto__', 'constructor', 'toString', ''];
const optionName = fc.oneof(fc.constantFrom(...OPTION_NAMES), latin1({ minLength: 1, maxLength: 12, noNul: true }));
const optionValue = fc.oneof(
  fc.integer({ min: 0, max: 70000 }).map(String),
  fc.constantFrom('0', '', '00008', '65464', '65465', '4294967296', '99999999999', '-1', '1e3', ' 512', '0x200', 'enable'),
  latin1({ maxLength: 12, noNul: true }),
);
const options = fc.array(fc.tuple(optionName, optionValue), { maxLength: 8 });
const name = latin1({ minLength: 1, maxLength: 100, noNul: true });
const MODES = ['octet', 'netascii', 'mail', 'OCTET', 'NetAscii', 'constructor', '__proto__', 'toString', 'binary', ''];

const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({
    op: fc.constantFrom('rrq' as const, 'wrq' as const),
    filename: name,
    mode: fc.constantFrom('octet' as const, 'netascii' as const, 'mail' as const),
    // Option names are case-insensitive and decoded lower-case; an empty name is not an option.
    options: options.map((o) => o.filter(([k]) => k !== '').map(([k, v]) => [k.toLowerCase(), v] as [string, string])),
  }),
  fc.record({ op: fc.constant('data' as const), block: fc.integer({ min: 0, max: 0xffff }), data: bytes(1468) }),
  fc.record({ op: fc.constant('ack' as const), block: fc.integer({ min: 0, max: 0xffff }) }),
  // Error text is shown to a person: the encoder keeps it printable and under 400 characters.
  fc.record({ op: fc.constant('error' as const), code: fc.integer({ min: 0, max: 0xffff }), message: fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')) }),
  fc.record({ op: fc.constant('oack' as const), options: options.map((o) => o.filter(([k]) => k !== '').map(([k, v]) => [k.toLowerCase(), v] as [string, string])) }),
);

/** Requests assembled from strings, with stray NULs and odd modes: the layout the decoder has to split. */
const requestBytes = fc
  .tuple(fc.constantFrom(1, 2, 6), name, fc.constantFrom(...MODES), options, fc.integer({ min: 0, max: 3 }))
  .map(([op, file, mode, opts, pad]) => {
    const parts = [file, mode, ...opts.flat()].map((s) => s + '\0').join('') + '\0'.repeat(pad);
    return Buffer.concat([Buffer.from([0, op]), Buffer.from(parts, 'latin1')]);
  });
const anyTftpBytes = fc.oneof(bytes(600), requestBytes, mutated(fc.oneof(requestBytes, packetArb.map(encodePacket)), 5));

const MODE_SET = new Set(['octet', 'netascii', 'mail']);

export const tftpCases: FuzzCase[] = [
  {
    name: 'tftp: any bytes → a well-typed packet or { ok: false, reason } (never a throw)',
    runs: 3000,
    setup: () => ({
      property: fc.property(anyTftpBytes, (buf) => {
        const d = decodePacket(buf);
        if (!d.ok) {
          if (typeof d.reason !== 'string' || d.reason === '') throw new Error('rejection without a reason');
          return;
        }
        const p = d.packet;
        if (p.op === 'rrq' || p.op === 'wrq') {
          if (!MODE_SET.has(p.mode as string)) throw new Error(`mode ${String(p.mode)} (${typeof p.mode}) is not octet, netascii or mail`);
          if (typeof p.filename !== 'string' || p.filename === '') throw new Error('empty file name accepted');
        }
        if (p.op === 'rrq' || p.op === 'wrq' || p.op === 'oack') {
          for (const [k, v] of p.options) {
            if (typeof k !== 'string' || typeof v !== 'string' || k === '' || k !== k.toLowerCase()) throw new Error(`option ${JSON.stringify([k, v])}`);
          }
          // Allocation follows the datagram: every option costs at least 2 bytes on the wire.
          if (p.options.length * 2 > buf.length) throw new Error(`${p.options.length} options from ${buf.length} bytes`);
        }
        if (p.op === 'data' && p.data.length !== buf.length - 4) throw new Error('DATA payload length');
      }),
    }),
  },
  {
    name: 'tftp: generated packet → encode → decode is the same packet',
    runs: 2000,
    setup: () => ({
      property: fc.property(packetArb, (p) => {
        const d = decodePacket(encodePacket(p));
        if (!d.ok) throw new Error(`encoded ${p.op} did not decode: ${d.reason}`);
        const a = JSON.stringify(p, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
        const b = JSON.stringify(d.packet, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
        if (a !== b) throw new Error(`${a}\nbecame\n${b}`);
      }),
    }),
  },
  {
    name: 'tftp: netascii conversion round-trips',
    runs: 1000,
    setup: () => ({
      property: fc.property(fc.array(fc.constantFrom(0x0a, 0x0d, 0x00, 0x41), { maxLength: 64 }).map((a) => Buffer.from(a)), (b) => {
        if (!fromNetascii(toNetascii(b)).equals(b)) throw new Error('fromNetascii(toNetascii(x)) !== x');
      }),
    }),
  },
  {
    name: 'tftp: negotiate grants only known options, once each, never above the request or the limits',
    runs: 2000,
    setup: () => ({
      property: fc.property(
        options.map((o) => o.map(([k, v]) => [k.toLowerCase(), v]) as OptionList),
        fc.record({
          blksizeMax: fc.integer({ min: MIN_BLKSIZE, max: MAX_BLKSIZE }),
          windowsizeMax: fc.integer({ min: 1, max: 32768 }),
          size: fc.integer({ min: 0, max: 2 ** 40 }),
          defaultTimeoutMs: fc.integer({ min: 100, max: 10_000 }),
          noOptions: fc.boolean(),
        }),
        (requested, lim) => {
          const n = negotiate(requested, lim);
          if (lim.noOptions && n.accepted.length) throw new Error('options granted with noOptions');
          const names = n.accepted.map(([k]) => k);
          if (new Set(names).size !== names.length) throw new Error(`an option granted twice: ${names}`);
          for (const [k, v] of n.accepted) {
            if (!['blksize', 'tsize', 'timeout', 'windowsize'].includes(k)) throw new Error(`unknown option ${k} granted`);
            if (!/^\d+$/.test(v)) throw new Error(`${k} granted as ${JSON.stringify(v)}`);
            const asked = requested.find(([rk]) => rk === k)![1];
            if (k === 'blksize' && !(Number(v) <= Number(asked) && Number(v) <= lim.blksizeMax && Number(v) >= MIN_BLKSIZE)) throw new Error(`blksize ${v} for ${asked}`);
            if (k === 'windowsize' && !(Number(v) <= Number(asked) && Number(v) <= lim.windowsizeMax && Number(v) >= 1)) throw new Error(`windowsize ${v} for ${asked}`);
            if (k === 'timeout' && Number(v) !== Number(asked)) throw new Error(`timeout ${v} for ${asked}`);
            if (k === 'tsize' && v !== String(lim.size)) throw new Error(`tsize ${v}`);
          }
          if (!(n.blksize >= MIN_BLKSIZE && n.blksize <= Math.max(512, lim.blksizeMax))) throw new Error(`blksize ${n.blksize}`);
          if (!(n.windowsize >= 1 && n.windowsize <= lim.windowsizeMax)) throw new Error(`windowsize ${n.windowsize}`);
          if (n.accepted.length + n.ignored.length !== requested.length) throw new Error('an option neither granted nor ignored');
        },
      ),
    }),
  },
  {
    name: 'tftp: blksize-per-subnet text and lookups never throw; a match is one of the rules',
    runs: 1000,
    setup: () => ({
      property: fc.property(textOf(['10.0.0.0/8', '192.168.1.0/24', '=', '512', ',', '/', '.', '0', '33', ' ', '1.2.3.4', '/32', '/0', '256'], 12), fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), (text, q) => {
        const r = parseSubnetLimitText(text);
        if (!r.ok) return;
        const parsed = parseSubnetLimits(r.rules);
        if (!parsed.ok) throw new Error('parseSubnetLimitText accepted rules parseSubnetLimits refuses');
        const got = blksizeMaxFor(q.join('.'), parsed.limits, 1468);
        if (got !== 1468 && !parsed.limits.some((l) => l.max === got)) throw new Error(`blksize ${got} from no rule`);
      }),
    }),
  },
];

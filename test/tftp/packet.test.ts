import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  encodeAck,
  encodeData,
  encodeDataHeader,
  encodeError,
  encodeOack,
  encodePacket,
  encodeRequest,
  fromNetascii,
  toNetascii,
  type Packet,
} from '../../src/tftp/packet.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeOk(buf: Buffer): Packet {
  const d = decodePacket(buf);
  if (!d.ok) throw new Error(`expected a packet, got: ${d.reason}`);
  return d.packet;
}

describe('decodePacket: requests as real clients send them', () => {
  it('PXE firmware RRQ with tsize and blksize (bytes as captured from an Intel PXE ROM)', () => {
    // "\0\1" "pxelinux.0\0" "octet\0" "tsize\0" "0\0" "blksize\0" "1456\0"
    const buf = Buffer.concat([hex('0001'), Buffer.from('pxelinux.0\0octet\0tsize\x000\0blksize\x001456\0', 'latin1')]);
    expect(decodeOk(buf)).toEqual({
      op: 'rrq',
      filename: 'pxelinux.0',
      mode: 'octet',
      options: [
        ['tsize', '0'],
        ['blksize', '1456'],
      ],
    });
  });

  it('mode and option names are case-insensitive (RFC 1350, RFC 2347)', () => {
    const buf = Buffer.concat([hex('0001'), Buffer.from('A\0OCTET\0BlkSize\x00512\0', 'latin1')]);
    expect(decodeOk(buf)).toEqual({ op: 'rrq', filename: 'A', mode: 'octet', options: [['blksize', '512']] });
  });

  it('NUL padding after the last option is tolerated', () => {
    const buf = Buffer.concat([hex('0001'), Buffer.from('f\0netascii\0tsize\x000\0\0\0\0', 'latin1')]);
    expect(decodeOk(buf)).toEqual({ op: 'rrq', filename: 'f', mode: 'netascii', options: [['tsize', '0']] });
  });

  it('WRQ decodes (and is refused later, by the server)', () => {
    expect(decodeOk(encodeRequest('wrq', 'x', 'octet'))).toMatchObject({ op: 'wrq', filename: 'x' });
  });

  it('file names keep every byte (latin1), backslashes included', () => {
    const name = 'boot\\x86\\wdsnbp.com';
    expect(decodeOk(encodeRequest('rrq', name, 'octet'))).toMatchObject({ filename: name });
    const raw = Buffer.concat([hex('0001'), Buffer.from([0xe9, 0x00]), Buffer.from('octet\0')]);
    expect(decodeOk(raw)).toMatchObject({ filename: '\u00e9' });
  });

  it('DATA, ACK, ERROR, OACK', () => {
    expect(decodeOk(hex('0003 0001 414243'))).toEqual({ op: 'data', block: 1, data: Buffer.from('ABC') });
    expect(decodeOk(hex('0003 ffff'))).toEqual({ op: 'data', block: 65535, data: Buffer.alloc(0) });
    expect(decodeOk(hex('0004 0000'))).toEqual({ op: 'ack', block: 0 });
    expect(decodeOk(hex('0004 1234 00'))).toEqual({ op: 'ack', block: 0x1234 });
    expect(decodeOk(Buffer.concat([hex('0005 0001'), Buffer.from('File not found\0')]))).toEqual({ op: 'error', code: 1, message: 'File not found' });
    // Some clients omit the final NUL of an error message.
    expect(decodeOk(Buffer.concat([hex('0005 0008'), Buffer.from('no')]))).toEqual({ op: 'error', code: 8, message: 'no' });
    expect(decodeOk(Buffer.concat([hex('0006'), Buffer.from('blksize\x001468\0')]))).toEqual({ op: 'oack', options: [['blksize', '1468']] });
  });
});

describe('decodePacket: malformed input is reported, never thrown', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /0 bytes/],
    ['one byte', hex('00'), /1 bytes/],
    ['unknown opcode', hex('0009 0000'), /unknown opcode 9/],
    ['opcode 0', hex('0000'), /unknown opcode 0/],
    ['RRQ without NUL', Buffer.concat([hex('0001'), Buffer.from('abc')]), /no NUL terminator \(3 bytes left\)/],
    ['RRQ without mode', Buffer.concat([hex('0001'), Buffer.from('abc\0')]), /needs a file name and a mode, got 1/],
    ['RRQ with no strings', hex('0001'), /got 0/],
    ['RRQ with empty name', Buffer.concat([hex('0001'), Buffer.from('\0octet\0')]), /empty file name/],
    ['RRQ with bad mode', Buffer.concat([hex('0001'), Buffer.from('a\0binary\0')]), /unknown mode "binary"/],
    ['RRQ with option and no value', Buffer.concat([hex('0001'), Buffer.from('a\0octet\0blksize\0')]), /option "blksize" has no value/],
    ['RRQ with empty option name', Buffer.concat([hex('0001'), Buffer.from('a\0octet\0\x001\0')]), /empty option name/],
    ['short DATA', hex('0003 00'), /DATA of 3 bytes/],
    ['short ACK', hex('0004 00'), /ACK of 3 bytes, needs 4/],
    ['short ERROR', hex('0005 00'), /ERROR of 3 bytes/],
    ['OACK without NUL', Buffer.concat([hex('0006'), Buffer.from('blksize')]), /OACK: string at offset 2 has no NUL/],
  ];
  for (const [name, buf, reason] of cases) {
    it(name, () => {
      const d = decodePacket(buf);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason).toMatch(reason);
    });
  }

  it('random bytes never throw', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 5000; i++) {
      const len = rnd() % 40;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = j < 2 && rnd() % 2 ? [0, 1, 2, 3, 4, 5, 6][rnd() % 7]! : rnd();
      expect(() => decodePacket(b)).not.toThrow();
    }
  });
});

describe('encode → decode round trips', () => {
  const packets: Packet[] = [
    { op: 'rrq', filename: 'undionly.kpxe', mode: 'octet', options: [] },
    { op: 'rrq', filename: '/boot/x.efi', mode: 'netascii', options: [['blksize', '1468'], ['tsize', '0'], ['windowsize', '8'], ['timeout', '3']] },
    { op: 'wrq', filename: 'w', mode: 'octet', options: [['tsize', '99']] },
    { op: 'data', block: 0, data: Buffer.alloc(0) },
    { op: 'data', block: 65535, data: Buffer.alloc(1468, 7) },
    { op: 'ack', block: 0 },
    { op: 'ack', block: 65535 },
    { op: 'error', code: 5, message: 'Unknown transfer ID' },
    { op: 'oack', options: [['blksize', '512'], ['tsize', '70000']] },
  ];
  for (const p of packets) {
    it(`${p.op} ${JSON.stringify('filename' in p ? p.filename : 'block' in p ? p.block : '')}`, () => {
      const once = encodePacket(p);
      const back = decodeOk(once);
      expect(back).toEqual(p);
      expect(encodePacket(back)).toEqual(once);
    });
  }

  it('exact bytes of ACK, DATA header, ERROR, OACK', () => {
    expect(encodeAck(258)).toEqual(hex('0004 0102'));
    expect(encodeDataHeader(1)).toEqual(hex('0003 0001'));
    expect(encodeData(2, Buffer.from('hi'))).toEqual(hex('0003 0002 6869'));
    expect(encodeError(1, 'File not found')).toEqual(Buffer.concat([hex('0005 0001'), Buffer.from('File not found\0')]));
    expect(encodeOack([['tsize', '45']])).toEqual(Buffer.concat([hex('0006'), Buffer.from('tsize\x0045\0')]));
  });

  it('error messages are made printable and bounded', () => {
    const e = decodeOk(encodeError(0, 'a\nb' + 'x'.repeat(1000)));
    expect(e).toMatchObject({ op: 'error', code: 0 });
    if (e.op === 'error') {
      expect(e.message.startsWith('a?b')).toBe(true);
      expect(e.message.length).toBe(400);
    }
  });

  it('refuses what cannot be encoded', () => {
    expect(() => encodeAck(65536)).toThrow(/65536/);
    expect(() => encodeAck(-1)).toThrow();
    expect(() => encodeRequest('rrq', 'a\0b', 'octet')).toThrow(/NUL/);
  });
});

describe('netascii', () => {
  it('LF → CR LF, CR → CR NUL, and back', () => {
    const src = Buffer.from('a\nb\rc\r\nd', 'latin1');
    const na = toNetascii(src);
    expect(na.toString('latin1')).toBe('a\r\nb\r\0c\r\0\r\nd');
    expect(fromNetascii(na)).toEqual(src);
  });

  it('a buffer without line ends is returned as is', () => {
    const b = Buffer.from('plain');
    expect(toNetascii(b)).toBe(b);
  });

  it('round trips arbitrary bytes', () => {
    const b = Buffer.alloc(4096);
    for (let i = 0; i < b.length; i++) b[i] = (i * 37) & 0xff;
    expect(fromNetascii(toNetascii(b))).toEqual(b);
  });
});

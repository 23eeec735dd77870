import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  encodePacket,
  clientMac,
  messageType,
  userClasses,
  clientArchitectures,
  maxReplySize,
  PacketError,
  type DhcpPacket,
} from '../../src/dhcp/packet.js';
import {
  decodeSubOptions,
  encodeSubOptions,
  encodeBootMenu,
  decodeBootMenu,
  encodeMenuPrompt,
  decodeMenuPrompt,
  encodeBootServers,
  decodeBootServers,
  decodeBootItem,
} from '../../src/dhcp/pxe.js';
import { CLIENTS, rawRequest, GUID } from './helpers/wire.js';

function basePacket(options: [number, Buffer][] = []): DhcpPacket {
  return {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xdeadbeef,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '10.0.0.5',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from([0x52, 0x54, 0, 0x12, 0x34, 0x56, ...new Array(10).fill(0)]),
    sname: '',
    file: '',
    options: new Map(options),
  };
}

describe('decodePacket on DISCOVERs built from the specs', () => {
  const table = [
    { name: 'BIOS PXE 2.1', make: CLIENTS.bios, mac: '52:54:00:12:34:56', vc: 'PXEClient:Arch:00000:UNDI:002001', arch: [0], flags: 0x8000, maxReply: 1260 - 28 },
    { name: 'UEFI x64 (EDK2)', make: CLIENTS.uefi64, mac: '52:54:00:ab:cd:01', vc: 'PXEClient:Arch:00007:UNDI:003000', arch: [7], flags: 0, maxReply: 1472 - 28 },
    { name: 'UEFI HTTP Boot', make: CLIENTS.http, mac: '52:54:00:ab:cd:02', vc: 'HTTPClient:Arch:00016:UNDI:003000', arch: [16], flags: 0, maxReply: 1472 - 28 },
    { name: 'UEFI ARM64', make: CLIENTS.arm64, mac: 'e4:5f:01:aa:bb:cc', vc: 'PXEClient:Arch:00011:UNDI:003000', arch: [11], flags: 0, maxReply: 576 },
    { name: 'iPXE', make: CLIENTS.ipxe, mac: '52:54:00:12:34:56', vc: 'PXEClient:Arch:00000:UNDI:002001', arch: [0], flags: 0, maxReply: 1500 - 28 },
  ];
  for (const t of table) {
    it(t.name, () => {
      const raw = t.make();
      const p = decodePacket(rawRequest(raw));
      expect(p.op).toBe(1);
      expect(p.xid).toBe(raw.xid);
      expect(p.flags).toBe(t.flags);
      expect(clientMac(p)).toBe(t.mac);
      expect(messageType(p)).toBe(1);
      expect(p.options.get(60)?.toString()).toBe(t.vc);
      expect(clientArchitectures(p).archs).toEqual(t.arch);
      expect([...p.options.get(97)!]).toEqual(GUID);
      expect(maxReplySize(p)).toBe(Math.max(576, t.maxReply));
      expect(p.yiaddr).toBe('0.0.0.0');
      expect(p.file).toBe('');
    });
  }

  it('reads the iPXE user class both bare and in RFC 3004 form', () => {
    const bare = decodePacket(rawRequest(CLIENTS.ipxe()));
    expect(userClasses(bare)).toEqual(['iPXE']);
    const r = CLIENTS.ipxe();
    r.options = r.options.map(([c, v]) => (c === 77 ? [77, [4, ...Buffer.from('iPXE'), 3, ...Buffer.from('foo')]] : [c, v]));
    expect(userClasses(decodePacket(rawRequest(r)))).toEqual(['iPXE', 'foo']);
  });
});

describe('round trips', () => {
  for (const [name, make] of Object.entries(CLIENTS)) {
    it(`decode → encode → decode: ${name}`, () => {
      const first = decodePacket(rawRequest(make()));
      const again = decodePacket(encodePacket(first, { maxSize: 1500 }));
      expect(again).toEqual(first);
    });
  }

  it('keeps sname and file strings', () => {
    const p = basePacket([[53, Buffer.from([2])]]);
    p.sname = 'boot-server';
    p.file = 'undionly.kpxe';
    const d = decodePacket(encodePacket(p));
    expect(d.sname).toBe('boot-server');
    expect(d.file).toBe('undionly.kpxe');
    expect(d).toEqual(p);
  });

  it('pads replies to 300 bytes and puts option 53 first', () => {
    const p = basePacket([
      [54, Buffer.from([10, 0, 0, 5])],
      [53, Buffer.from([2])],
    ]);
    const b = encodePacket(p);
    expect(b.length).toBe(300);
    expect([...b.subarray(240, 243)]).toEqual([53, 1, 2]);
    expect([...b.subarray(243, 249)]).toEqual([54, 4, 10, 0, 0, 5]);
    expect(b[249]).toBe(255);
  });
});

describe('long options (RFC 3396)', () => {
  it('splits a 600-byte option into 255 + 255 + 90 and joins it again', () => {
    const long = Buffer.alloc(600, 0x41);
    for (let i = 0; i < long.length; i++) long[i] = i & 0xff;
    const p = basePacket([
      [53, Buffer.from([2])],
      [43, long],
    ]);
    const b = encodePacket(p, { maxSize: 1500 });
    // 240: 53 1 2 | 243: 43 255 … | 500: 43 255 … | 757: 43 90 …
    expect([b[243], b[244]]).toEqual([43, 255]);
    expect([b[500], b[501]]).toEqual([43, 255]);
    expect([b[757], b[758]]).toEqual([43, 90]);
    expect(b[849]).toBe(255);
    expect(decodePacket(b).options.get(43)).toEqual(long);
  });

  it('concatenates repeated instances in a received packet', () => {
    const r = CLIENTS.bios();
    r.options.push([77, 'ab'], [77, 'cd']);
    expect(decodePacket(rawRequest(r)).options.get(77)?.toString()).toBe('abcd');
  });
});

describe('option overload (option 52)', () => {
  it('decodes options carried in file and sname, in the RFC 3396 order', () => {
    const b = rawRequest({ xid: 1, mac: '02:00:00:00:00:01', options: [[53, [1]], [52, [3]], [60, 'PXE']] });
    // file field (offset 108): the rest of option 60, then 67; sname (offset 44): option 12.
    Buffer.from([60, 6, ...Buffer.from('Client'), 67, 3, ...Buffer.from('a.b'), 255]).copy(b, 108);
    Buffer.from([12, 4, ...Buffer.from('host'), 255]).copy(b, 44);
    const p = decodePacket(b);
    expect(p.options.get(60)?.toString()).toBe('PXEClient');
    expect(p.options.get(67)?.toString()).toBe('a.b');
    expect(p.options.get(12)?.toString()).toBe('host');
    expect(p.options.has(52)).toBe(false);
    expect(p.file).toBe('');
    expect(p.sname).toBe('');
  });

  it('encodes into file and sname when the options field is full, and decodes back', () => {
    const p = basePacket([
      [53, Buffer.from([5])],
      [43, Buffer.alloc(250, 7)],
      [67, Buffer.from('x'.repeat(200))],
    ]);
    const b = encodePacket(p, { maxSize: 576 });
    expect(b.length).toBeLessThanOrEqual(576);
    expect([...b.subarray(240, 243)]).toEqual([52, 1, 3]);
    const d = decodePacket(b);
    expect(d.options.get(43)).toEqual(Buffer.alloc(250, 7));
    expect(d.options.get(67)?.toString()).toBe('x'.repeat(200));
  });

  it('overloads only from the first byte that does not fit the options field', () => {
    // 576 bytes: 240 header and cookie, 335 for options, 1 for END.
    const withFile = (n: number) =>
      basePacket([
        [53, Buffer.from([5])],
        [43, Buffer.alloc(255, 7)],
        [67, Buffer.alloc(n, 0x61)],
      ]);
    const full = encodePacket(withFile(73), { maxSize: 576 });
    expect(full.length).toBe(576);
    expect(full[575]).toBe(255);
    expect([...full.subarray(240, 243)]).toEqual([53, 1, 5]);
    expect(decodePacket(full)).toEqual(withFile(73));

    const over = encodePacket(withFile(74), { maxSize: 576 });
    expect(over.length).toBeLessThanOrEqual(576);
    expect([...over.subarray(240, 243)]).toEqual([52, 1, 3]);
    expect(decodePacket(over).options.get(67)).toEqual(Buffer.alloc(74, 0x61));
  });

  it('reply bytes do not depend on buffers reused between encodes', () => {
    const a = encodePacket(basePacket([[53, Buffer.from([2])]]));
    const before = Buffer.from(a);
    encodePacket({ ...basePacket([[53, Buffer.from([5])]]), xid: 1, file: 'x'.repeat(100) });
    expect(a).toEqual(before);
  });

  it('refuses options that cannot fit, with the numbers', () => {
    const p = basePacket([[43, Buffer.alloc(900)]]);
    expect(() => encodePacket(p, { maxSize: 576 })).toThrow(/options need 908 bytes; they do not fit in a 576-byte packet even with file\/sname overloaded/);
  });

  it('refuses a file name longer than the field', () => {
    const p = basePacket([[53, Buffer.from([2])]]);
    p.file = 'f'.repeat(130);
    expect(() => encodePacket(p)).toThrow('file is 130 bytes; the field holds 127 and a NUL');
  });
});

describe('malformed and truncated packets', () => {
  const good = rawRequest(CLIENTS.bios());
  const cases: [string, () => Buffer, RegExp][] = [
    ['empty', () => Buffer.alloc(0), /packet is 0 bytes; a BOOTP header needs 236/],
    ['truncated header', () => good.subarray(0, 100), /packet is 100 bytes; a BOOTP header needs 236/],
    ['no cookie room', () => good.subarray(0, 238), /packet is 238 bytes: no room for the DHCP magic cookie \(needs 240\)/],
    ['bad cookie', () => Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]), /magic cookie is 0x01020304, expected 0x63825363/],
    ['bad op', () => Buffer.concat([Buffer.from([7]), good.subarray(1)]), /op 7 is neither BOOTREQUEST \(1\) nor BOOTREPLY \(2\)/],
    ['hlen too big', () => Buffer.concat([good.subarray(0, 2), Buffer.from([20]), good.subarray(3)]), /hlen 20 is larger than the 16-byte chaddr field/],
    ['option overruns', () => Buffer.concat([good.subarray(0, 240), Buffer.from([43, 12, 1, 2, 3, 4])]), /options: option 43 at offset 240 claims 12 bytes, 4 remain/],
    ['length byte missing', () => Buffer.concat([good.subarray(0, 240), Buffer.from([53, 1, 1, 60])]), /option 60 at offset 243 has no length byte/],
    ['bad overload value', () => Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 9, 255])]), /option 52 \(overload\) must be 1 byte of 1, 2 or 3; got 1 byte\(s\) starting 9/],
    [
      'overloaded file overruns',
      () => {
        const b = Buffer.from(good);
        Buffer.from([52, 1, 1, 255]).copy(b, 240);
        Buffer.from([67, 200]).copy(b, 108);
        return b;
      },
      /file field \(overloaded\): option 67 at offset 108 claims 200 bytes, 126 remain/,
    ],
  ];
  for (const [name, make, msg] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        decodePacket(make());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PacketError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('accepts a packet whose options end without END', () => {
    const b = rawRequest({ ...CLIENTS.bios(), noEnd: true }).subarray(0, 240 + 3 + 4 + 39); // 53, 57, 55 and nothing after
    const p = decodePacket(b);
    expect(messageType(p)).toBe(1);
  });

  it('every truncation of a real DISCOVER either decodes or throws a PacketError', () => {
    const full = rawRequest(CLIENTS.ipxe());
    for (let n = 0; n <= full.length; n++) {
      try {
        decodePacket(full.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(PacketError);
      }
    }
  });

  it('random bytes never throw anything but PacketError', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed & 0xff);
    const base = rawRequest(CLIENTS.uefi64());
    for (let k = 0; k < 2000; k++) {
      const b = Buffer.from(base);
      for (let j = 0; j < 6; j++) b[236 + 4 + (rnd() % (b.length - 240))] = rnd();
      try {
        decodePacket(b);
      } catch (e) {
        expect(e).toBeInstanceOf(PacketError);
      }
    }
  });
});

describe('option 43 sub-options (PXE 2.1)', () => {
  it('round-trips discovery control, boot servers, menu, prompt', () => {
    const subs = new Map<number, Buffer>([
      [6, Buffer.from([7])],
      [8, encodeBootServers([{ type: 0x8001, addresses: ['10.0.0.5', '10.0.0.6'] }])],
      [9, encodeBootMenu([{ type: 0x8001, label: 'Network boot' }, { type: 0, label: 'Local disk' }])],
      [10, encodeMenuPrompt(10, 'Press F8 for the boot menu')],
    ]);
    const enc = encodeSubOptions(subs);
    expect([...enc.subarray(0, 3)]).toEqual([6, 1, 7]);
    expect(enc.at(-1)).toBe(255);
    const dec = decodeSubOptions(enc);
    expect(dec).toEqual(subs);
    expect(decodeBootServers(dec.get(8)!)).toEqual([{ type: 0x8001, addresses: ['10.0.0.5', '10.0.0.6'] }]);
    expect(decodeBootMenu(dec.get(9)!)).toEqual([
      { type: 0x8001, label: 'Network boot' },
      { type: 0, label: 'Local disk' },
    ]);
    expect(decodeMenuPrompt(dec.get(10)!)).toEqual({ timeoutSec: 10, prompt: 'Press F8 for the boot menu' });
  });

  it('the menu bytes are type, length, text (PXE_BOOT_MENU)', () => {
    expect([...encodeBootMenu([{ type: 0x8001, label: 'ab' }])]).toEqual([0x80, 0x01, 2, 0x61, 0x62]);
    expect([...encodeMenuPrompt(255, 'x')]).toEqual([255, 0x78]);
  });

  it('splits a sub-option over 255 bytes', () => {
    const menu = Buffer.alloc(300, 1);
    const enc = encodeSubOptions(new Map([[9, menu]]));
    expect([enc[0], enc[1], enc[257], enc[258]]).toEqual([9, 255, 9, 45]);
    expect(decodeSubOptions(enc).get(9)).toEqual(menu);
  });

  const bad: [string, number[], RegExp][] = [
    ['overrun', [9, 12, 0x80, 0x01], /option 43: sub-option 9 at offset 0 claims 12 bytes, 2 remain/],
    ['no length', [6, 1, 8, 71], /option 43: sub-option 71 at offset 3 has no length byte \(option is 4 bytes\)/],
  ];
  for (const [name, b, msg] of bad) it(`rejects ${name}`, () => expect(() => decodeSubOptions(Buffer.from(b))).toThrow(msg));
  it('rejects a short boot item and a short menu entry', () => {
    expect(() => decodeBootItem(Buffer.from([0x80, 1, 0]))).toThrow('boot item (sub-option 71) is 3 bytes; expected 4');
    expect(() => decodeBootMenu(Buffer.from([0x80, 1, 9, 0x41]))).toThrow('boot menu: item at offset 0 claims a 9-byte label, 1 remain');
    expect(() => decodeBootServers(Buffer.from([0x80, 1, 2, 10, 0, 0, 5]))).toThrow('boot servers: entry at offset 0 lists 2 addresses (8 bytes), 4 remain');
  });
});

import { describe, expect, it } from 'vitest';
import { decodePacket, encodePacket, type DhcpPacket } from '../../src/dhcp/packet.js';
import { proxyReply, type ProxyContext, type ProxyPolicy, type ProxyAnswer, type ProxyIgnore, type ProxyDecision } from '../../src/dhcp/proxy.js';
import { decodeSubOptions, decodeBootMenu, decodeMenuPrompt, decodeBootServers, decodeBootItem } from '../../src/dhcp/pxe.js';
import type { HostMode } from '../../src/dhcp/firmware.js';
import { CLIENTS, rawRequest, bootServerRequest, GUID, ZERO_GUID, hex, type RawRequest } from './helpers/wire.js';

const SERVER = '10.0.0.5';
const BASE = 'http://10.0.0.5:8080';

function policy(p: Partial<ProxyPolicy> = {}): ProxyPolicy {
  return { loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi' }, httpBaseUrl: BASE, ...p };
}

function ctx(c: Partial<ProxyContext> = {}, hosts: Record<string, HostMode> = {}): ProxyContext {
  return {
    via: 'dhcp',
    source: { address: '0.0.0.0', port: 68 },
    server: { address: SERVER },
    policy: policy(),
    hostMode: (mac) => hosts[mac],
    ...c,
  };
}

/** Decides on the raw request bytes and returns the reply as it would go on the wire, decoded again. */
function decide(raw: RawRequest, c: ProxyContext): ProxyDecision & { wire?: Buffer; back?: DhcpPacket } {
  const d = proxyReply(decodePacket(rawRequest(raw)), c);
  if ('ignore' in d) return d;
  const wire = encodePacket(d.reply, { maxSize: 576 });
  return Object.assign(d, { wire, back: decodePacket(wire) });
}

function answered(d: ProxyDecision): ProxyAnswer & { wire: Buffer; back: DhcpPacket } {
  if ('ignore' in d) throw new Error(`expected a reply, got ignore ${d.ignore}: ${d.why}`);
  return d as ProxyAnswer & { wire: Buffer; back: DhcpPacket };
}

function ignored(d: ProxyDecision): ProxyIgnore {
  if (!('ignore' in d)) throw new Error(`expected ignore, got ${d.message} ${d.bootFile}`);
  return d;
}

const opt = (p: DhcpPacket, code: number) => p.options.get(code);
const str = (p: DhcpPacket, code: number) => p.options.get(code)?.toString('latin1');

describe('proxy offers to DISCOVERs (port 67)', () => {
  const table: {
    name: string;
    make: () => RawRequest;
    cls: string;
    file: string;
    opt67: string | undefined;
    opt66: string | undefined;
    opt43: number[] | undefined;
    outcome: string;
    firmware: string;
    to: string;
  }[] = [
    { name: 'BIOS PXE', make: CLIENTS.bios, cls: 'PXEClient', file: 'undionly.kpxe', opt67: 'undionly.kpxe', opt66: SERVER, opt43: [6, 1, 8, 255], outcome: 'loader', firmware: 'bios', to: '255.255.255.255:68' },
    { name: 'UEFI x64', make: CLIENTS.uefi64, cls: 'PXEClient', file: 'ipxe.efi', opt67: 'ipxe.efi', opt66: SERVER, opt43: [6, 1, 8, 255], outcome: 'loader', firmware: 'efi64', to: '255.255.255.255:68' },
    {
      name: 'UEFI HTTP Boot',
      make: CLIENTS.http,
      cls: 'HTTPClient',
      file: `${BASE}/loaders/ipxe.efi`,
      opt67: `${BASE}/loaders/ipxe.efi`,
      opt66: undefined,
      opt43: undefined,
      outcome: 'http-loader',
      firmware: 'efi64-http',
      to: '255.255.255.255:68',
    },
    { name: 'iPXE (loop-break)', make: CLIENTS.ipxe, cls: 'PXEClient', file: `${BASE}/boot.ipxe`, opt67: `${BASE}/boot.ipxe`, opt66: undefined, opt43: [6, 1, 8, 255], outcome: 'boot-script', firmware: 'ipxe', to: '255.255.255.255:68' },
  ];
  for (const t of table) {
    it(t.name, async () => {
      const raw = t.make();
      const d = answered(decide(raw, ctx()));
      const r = d.back;
      expect(d.message).toBe('offer');
      expect(d.outcome).toBe(t.outcome);
      expect(d.firmware).toBe(t.firmware);
      expect(`${d.to.address}:${d.to.port}`).toBe(t.to);
      expect(r.op).toBe(2);
      expect(r.xid).toBe(raw.xid);
      expect(r.yiaddr).toBe('0.0.0.0'); // a proxy never hands out an address
      expect(r.ciaddr).toBe('0.0.0.0');
      expect(r.siaddr).toBe(SERVER);
      expect(r.flags).toBe(raw.flags ?? 0);
      expect(r.chaddr.subarray(0, 6).toString('hex')).toBe(raw.mac.replace(/:/g, ''));
      expect([...opt(r, 53)!]).toEqual([2]);
      expect([...opt(r, 54)!]).toEqual([10, 0, 0, 5]);
      expect(str(r, 60)).toBe(t.cls);
      expect([...opt(r, 97)!]).toEqual(GUID);
      expect(r.file).toBe(t.file);
      expect(str(r, 67)).toBe(t.opt67);
      expect(str(r, 66)).toBe(t.opt66);
      expect(opt(r, 43) ? [...opt(r, 43)!] : undefined).toEqual(t.opt43);
      expect(opt(r, 1)).toBeUndefined(); // no address configuration at all
      expect(opt(r, 51)).toBeUndefined();
      // Option 53 leads; the packet is at least the BOOTP minimum.
      expect([...d.wire.subarray(240, 243)]).toEqual([53, 1, 2]);
      expect(d.wire.length).toBeGreaterThanOrEqual(300);
      await expect(hex(d.wire)).toMatchFileSnapshot(`fixtures/offer-${t.firmware}.hex`);
    });
  }

  it('ARM64 without a configured loader: no answer, and a reason naming the setting', () => {
    const d = ignored(decide(CLIENTS.arm64(), ctx()));
    expect(d.ignore).toBe('no-loader');
    expect(d.why).toMatch(/arch 11 \(ARM 64-bit UEFI\).*no loader configured for "arm64"; set loaders.arm64 \(CHAINBOOT_DHCP_LOADER_ARM64\)/);
    expect(d.pxe).toBe(true);
  });

  it('ARM64 with a loader configured', () => {
    const d = answered(decide(CLIENTS.arm64(), ctx({ policy: policy({ loaders: { bios: 'undionly.kpxe', efi64: 'ipxe.efi', arm64: 'ipxe-arm64.efi' } }) })));
    expect(d.back.file).toBe('ipxe-arm64.efi');
    expect(d.firmware).toBe('arm64');
  });

  it('EFI IA32 (arch 6) gets its own loader, or nothing', () => {
    const ia32 = (): RawRequest => ({ ...CLIENTS.uefi64(), options: [[53, [1]], [93, [0, 6]], [60, 'PXEClient:Arch:00006:UNDI:003000']] });
    expect(ignored(decide(ia32(), ctx())).ignore).toBe('no-loader');
    const d = answered(decide(ia32(), ctx({ policy: policy({ loaders: { efi32: 'ipxe-i386.efi' } }) })));
    expect(d.back.file).toBe('ipxe-i386.efi');
  });

  it('arch 9 is x64 UEFI too, and snponly.efi can replace ipxe.efi', () => {
    const r = CLIENTS.uefi64();
    r.options = r.options.map(([c, v]) => (c === 93 ? [93, [0, 9]] : c === 60 ? [60, 'PXEClient:Arch:00009:UNDI:003000'] : [c, v]));
    expect(answered(decide(r, ctx({ policy: policy({ loaders: { efi64: 'snponly.efi' } }) }))).back.file).toBe('snponly.efi');
  });

  it('takes the architecture from option 60 when option 93 is missing', () => {
    const r = CLIENTS.uefi64();
    r.options = r.options.filter(([c]) => c !== 93);
    const d = answered(decide(r, ctx()));
    expect(d.facts.archFrom).toBe('option60');
    expect(d.back.file).toBe('ipxe.efi');
  });

  it('an iPXE client without option 77 but with option 175 is iPXE too', () => {
    const r = CLIENTS.ipxe();
    r.options = r.options.filter(([c]) => c !== 77);
    expect(answered(decide(r, ctx())).back.file).toBe(`${BASE}/boot.ipxe`);
  });

  it('ignores ordinary DHCP clients, replies, REQUESTs for the DHCP server', () => {
    expect(ignored(decide(CLIENTS.plain(), ctx())).ignore).toBe('not-pxe');
    expect(ignored(decide(CLIENTS.plain(), ctx())).pxe).toBe(false);
    expect(ignored(decide({ ...CLIENTS.bios(), op: 2 }, ctx())).ignore).toBe('not-request');
    const req = CLIENTS.bios();
    req.options = req.options.map(([c, v]) => (c === 53 ? [53, [3]] : [c, v]));
    expect(ignored(decide(req, ctx())).ignore).toBe('request-not-for-boot-server');
    const inform = CLIENTS.bios();
    inform.options = inform.options.map(([c, v]) => (c === 53 ? [53, [7]] : [c, v]));
    expect(ignored(decide(inform, ctx())).ignore).toBe('unsupported-message');
    expect(ignored(decide({ ...CLIENTS.bios(), htype: 32, hlen: 0 }, ctx())).ignore).toBe('not-ethernet');
  });

  it('a reply with a file name too long for the field puts it only in option 67', () => {
    const long = `http://boot.example.org:8080/${'x'.repeat(120)}`;
    const d = answered(decide(CLIENTS.http(), ctx({ policy: policy({ httpBaseUrl: long }) })));
    expect(d.back.file).toBe('');
    expect(str(d.back, 67)).toBe(`${long}/loaders/ipxe.efi`);
  });
});

describe('PXE boot menu (option 43 sub-options 6, 8, 9, 10)', () => {
  const menuPolicy = (display: 'never' | 'always' | 'onkey', timeoutSec = 5) => policy({ menu: { display, timeoutSec, prompt: 'Press F8 for the boot menu' } });

  it('onkey: prompt with countdown, menu of network and local boot, discovery by unicast to us', () => {
    const d = answered(decide(CLIENTS.bios(), ctx({ policy: menuPolicy('onkey', 5) })));
    expect(d.outcome).toBe('menu');
    expect(d.back.file).toBe(''); // the file comes with the 4011 ACK for the chosen item
    expect(str(d.back, 67)).toBeUndefined();
    const subs = decodeSubOptions(opt(d.back, 43)!);
    expect([...subs.get(6)!]).toEqual([7]); // no broadcast, no multicast, only listed servers
    expect(decodeBootServers(subs.get(8)!)).toEqual([{ type: 0x8001, addresses: [SERVER] }]);
    expect(decodeBootMenu(subs.get(9)!)).toEqual([
      { type: 0x8001, label: 'Network boot (chainboot)' },
      { type: 0, label: 'Boot from local disk' },
    ]);
    expect(decodeMenuPrompt(subs.get(10)!)).toEqual({ timeoutSec: 5, prompt: 'Press F8 for the boot menu' });
  });

  it('always: the menu shows at once (timeout 255)', () => {
    const d = answered(decide(CLIENTS.uefi64(), ctx({ policy: menuPolicy('always') })));
    expect(decodeMenuPrompt(decodeSubOptions(opt(d.back, 43)!).get(10)!).timeoutSec).toBe(255);
  });

  it('never: no menu, the loader directly', () => {
    const d = answered(decide(CLIENTS.bios(), ctx({ policy: menuPolicy('never') })));
    expect(d.back.file).toBe('undionly.kpxe');
    expect([...opt(d.back, 43)!]).toEqual([6, 1, 8, 255]);
  });

  it('never shows a menu to iPXE or HTTP Boot', () => {
    expect(answered(decide(CLIENTS.ipxe(), ctx({ policy: menuPolicy('always') }))).outcome).toBe('boot-script');
    expect(answered(decide(CLIENTS.http(), ctx({ policy: menuPolicy('always') }))).outcome).toBe('http-loader');
  });

  it('the chosen item comes back to 4011 and gets its loader, with the item echoed', () => {
    const c = ctx({ via: 'proxy', source: { address: '10.0.0.77', port: 68 }, policy: menuPolicy('onkey') });
    const d = answered(decide(bootServerRequest(CLIENTS.bios(), '10.0.0.77', [0x8001, 0]), c));
    expect(d.message).toBe('ack');
    expect([...opt(d.back, 53)!]).toEqual([5]);
    expect(d.back.file).toBe('undionly.kpxe');
    expect(d.back.ciaddr).toBe('10.0.0.77');
    expect(`${d.to.address}:${d.to.port}`).toBe('10.0.0.77:68');
    expect(decodeBootItem(decodeSubOptions(opt(d.back, 43)!).get(71)!)).toEqual({ type: 0x8001, layer: 0 });
  });

  it('an item type that is not ours is not answered', () => {
    const c = ctx({ via: 'proxy', source: { address: '10.0.0.77', port: 68 }, policy: menuPolicy('onkey') });
    expect(ignored(decide(bootServerRequest(CLIENTS.bios(), '10.0.0.77', [0x8005, 0]), c)).ignore).toBe('unknown-boot-item');
  });

  it('a menu item can name its own loader', () => {
    const p = policy({ loaders: { bios: 'undionly.kpxe', lpx: 'lpxelinux.0' }, menu: { display: 'always', items: [{ label: 'iPXE', action: 'netboot' }, { label: 'pxelinux', action: 'netboot', loader: 'lpx' }, { label: 'disk', action: 'local' }] } });
    const offer = answered(decide(CLIENTS.bios(), ctx({ policy: p })));
    expect(decodeBootMenu(decodeSubOptions(opt(offer.back, 43)!).get(9)!).map((i) => i.type)).toEqual([0x8001, 0x8002, 0]);
    const c = ctx({ via: 'proxy', source: { address: '10.0.0.77', port: 68 }, policy: p });
    expect(answered(decide(bootServerRequest(CLIENTS.bios(), '10.0.0.77', [0x8002, 0]), c)).back.file).toBe('lpxelinux.0');
  });
});

describe('port 4011 boot server REQUESTs', () => {
  const via4011 = (c: Partial<ProxyContext> = {}) => ctx({ via: 'proxy', source: { address: '10.0.0.66', port: 4011 }, ...c });

  it('EDK2: REQUEST with boot item type 0 (PXE bootstrap) → ACK with the loader, to the sender', () => {
    const d = answered(decide(bootServerRequest(CLIENTS.uefi64(), '10.0.0.66', [0, 0]), via4011()));
    expect(d.message).toBe('ack');
    expect(d.back.file).toBe('ipxe.efi');
    expect(str(d.back, 60)).toBe('PXEClient');
    expect([...opt(d.back, 97)!]).toEqual(GUID);
    expect(`${d.to.address}:${d.to.port}`).toBe('10.0.0.66:4011');
  });

  it('a REQUEST without option 43 (BINL style) gets the loader as well', () => {
    const d = answered(decide(bootServerRequest(CLIENTS.uefi64(), '10.0.0.66', null), via4011()));
    expect(d.back.file).toBe('ipxe.efi');
  });

  it('iPXE on 4011 gets the HTTP entry script', () => {
    const d = answered(decide(bootServerRequest(CLIENTS.ipxe(), '10.0.0.66', null), via4011()));
    expect(d.back.file).toBe(`${BASE}/boot.ipxe`);
  });

  it('a DISCOVER on 4011 is not answered', () => {
    expect(ignored(decide(CLIENTS.bios(), via4011())).ignore).toBe('unsupported-message');
  });

  it('a boot server REQUEST broadcast on 67 (PXE broadcast discovery) is answered too', () => {
    const d = answered(decide(bootServerRequest(CLIENTS.bios(), '10.0.0.66', [0, 0]), ctx()));
    expect(d.message).toBe('ack');
    expect(`${d.to.address}:${d.to.port}`).toBe('10.0.0.66:68');
  });

  it('a malformed option 43 is dropped with the numbers', () => {
    const r = bootServerRequest(CLIENTS.bios(), '10.0.0.66', null);
    r.options.push([43, [71, 9, 0, 0]]);
    const d = ignored(decide(r, via4011()));
    expect(d.ignore).toBe('bad-vendor-options');
    expect(d.why).toBe('option 43: sub-option 71 at offset 0 claims 9 bytes, 2 remain');
  });
});

describe('per-host control', () => {
  const mac = '52:54:00:12:34:56';
  it('ignore: never answered', () => {
    const d = ignored(decide(CLIENTS.bios(), ctx({}, { [mac]: 'ignore' })));
    expect(d.ignore).toBe('host-ignored');
  });
  it('loader: iPXE gets the loader again instead of the loop-break', () => {
    const d = answered(decide(CLIENTS.ipxe(), ctx({}, { [mac]: 'loader' })));
    expect(d.back.file).toBe('undionly.kpxe');
    expect(d.mode).toBe('loader');
  });
  it('follow: loader first, then HTTP', () => {
    expect(answered(decide(CLIENTS.bios(), ctx({}, { [mac]: 'follow' }))).back.file).toBe('undionly.kpxe');
    expect(answered(decide(CLIENTS.ipxe(), ctx({}, { [mac]: 'follow' }))).back.file).toBe(`${BASE}/boot.ipxe`);
  });
  it('unknown MACs follow the configured default', () => {
    expect(ignored(decide(CLIENTS.bios(), ctx({ policy: policy({ defaultMode: 'ignore' }) }))).ignore).toBe('host-ignored');
    expect(answered(decide(CLIENTS.bios(), ctx({ policy: policy({ defaultMode: 'ignore' }) }, { [mac]: 'follow' }))).back.file).toBe('undionly.kpxe');
  });
  it('a failing host lookup fails closed', () => {
    const d = ignored(decide(CLIENTS.bios(), ctx({ hostMode: () => { throw new Error('database is locked'); } })));
    expect(d.ignore).toBe('host-lookup-failed');
    expect(d.why).toBe('host lookup failed: database is locked');
  });
});

describe('relays (giaddr)', () => {
  it('a relayed DISCOVER is answered to the relay on port 67, giaddr kept', () => {
    const d = answered(decide({ ...CLIENTS.bios(), giaddr: '10.9.0.1', hops: 1 }, ctx({ source: { address: '10.0.0.254', port: 67 } })));
    expect(`${d.to.address}:${d.to.port}`).toBe('10.9.0.1:67');
    expect(d.to.broadcast).toBe(false);
    expect(d.back.giaddr).toBe('10.9.0.1');
    expect(d.back.file).toBe('undionly.kpxe');
  });
  it('no server address: not answered, with the reason', () => {
    const d = ignored(decide(CLIENTS.bios(), ctx({ server: { error: 'no address' } })));
    expect(d.ignore).toBe('no-server-address');
  });
});

describe('firmware quirks', () => {
  it('extra vendor classes are treated as PXEClient (reply says PXEClient)', () => {
    const r = CLIENTS.bios();
    r.options = r.options.map(([c, v]) => (c === 60 ? [60, 'HW-Client'] : [c, v]));
    expect(ignored(decide(r, ctx())).ignore).toBe('not-pxe');
    const d = answered(decide(r, ctx({ policy: policy({ extraVendorClasses: ['HW-Client'] }) })));
    expect(str(d.back, 60)).toBe('PXEClient');
  });

  it('a MAC-prefix override picks a loader for firmware that lies about its arch', () => {
    const r = { ...CLIENTS.bios(), mac: '2c:cf:67:01:02:03' }; // reports arch 0
    const p = policy({ loaders: { bios: 'undionly.kpxe', rpi5: 'rpi5/ipxe.efi' }, macPrefixArch: { '2c:cf:67': 'rpi5' } });
    const d = answered(decide(r, ctx({ policy: p })));
    expect(d.back.file).toBe('rpi5/ipxe.efi');
    expect(d.facts.archFrom).toBe('mac-prefix');
    expect(d.facts.sentArch).toBe(0);
    const p2 = policy({ loaders: { bios: 'undionly.kpxe', arm64: 'ipxe-arm64.efi' }, macPrefixArch: { '2c:cf': 0, '2c:cf:67': 11 } });
    expect(answered(decide(r, ctx({ policy: p2 }))).back.file).toBe('ipxe-arm64.efi'); // longest prefix wins
  });

  it('an all-zero UUID is echoed unchanged but the client is identified by MAC', () => {
    const r = CLIENTS.uefi64();
    r.options = r.options.map(([c, v]) => (c === 97 ? [97, ZERO_GUID] : [c, v]));
    const d = answered(decide(r, ctx()));
    expect([...opt(d.back, 97)!]).toEqual(ZERO_GUID);
    expect(d.facts.uuid).toBeNull();
    expect(d.facts.uuidProblem).toBe('junk');
    expect(d.facts.identity).toBe('52:54:00:ab:cd:01');
    const keep = answered(decide(r, ctx({ policy: policy({ junkUuidFallback: false }) })));
    expect(keep.facts.uuid).toBe('00000000-0000-0000-0000-000000000000');
  });

  it('a client with no option 97 is answered (no 97 in the reply) unless answerWithoutUuid is off', () => {
    const r = CLIENTS.bios();
    r.options = r.options.filter(([c]) => c !== 97);
    const d = answered(decide(r, ctx()));
    expect(opt(d.back, 97)).toBeUndefined();
    expect(ignored(decide(r, ctx({ policy: policy({ answerWithoutUuid: false }) }))).ignore).toBe('no-uuid');
  });

  it('a PXE client with no architecture at all is taken for BIOS', () => {
    const r = CLIENTS.bios();
    r.options = r.options.filter(([c]) => c !== 93).map(([c, v]) => (c === 60 ? [60, 'PXEClient'] : [c, v]));
    expect(answered(decide(r, ctx())).back.file).toBe('undionly.kpxe');
  });
});

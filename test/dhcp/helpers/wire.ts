/**
 * Builds request bytes straight from RFC 2131 §2 (fixed header), RFC 2132
 * (options) and the PXE 2.1 / RFC 4578 client options, byte by byte, without
 * the encoder under test, so the decoder and the proxy are checked against
 * an independent construction.
 */

export type RawOption = [code: number, value: number[] | string];

export interface RawRequest {
  op?: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  xid: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  mac: string;
  sname?: string;
  file?: string;
  options: RawOption[];
  /** Leave out the END option. */
  noEnd?: boolean;
}

const ip = (s: string) => s.split('.').map(Number);
const bytes = (v: number[] | string) => (typeof v === 'string' ? [...Buffer.from(v, 'latin1')] : v);

export function rawRequest(r: RawRequest): Buffer {
  const b: number[] = [];
  b.push(r.op ?? 1, r.htype ?? 1, r.hlen ?? 6, r.hops ?? 0);
  b.push((r.xid >>> 24) & 255, (r.xid >>> 16) & 255, (r.xid >>> 8) & 255, r.xid & 255);
  b.push(((r.secs ?? 0) >> 8) & 255, (r.secs ?? 0) & 255);
  b.push(((r.flags ?? 0) >> 8) & 255, (r.flags ?? 0) & 255);
  b.push(...ip(r.ciaddr ?? '0.0.0.0'), 0, 0, 0, 0, 0, 0, 0, 0, ...ip(r.giaddr ?? '0.0.0.0'));
  const chaddr = r.mac.split(':').map((h) => parseInt(h, 16));
  b.push(...chaddr, ...new Array(16 - chaddr.length).fill(0));
  const sname = bytes(r.sname ?? '');
  b.push(...sname, ...new Array(64 - sname.length).fill(0));
  const file = bytes(r.file ?? '');
  b.push(...file, ...new Array(128 - file.length).fill(0));
  b.push(0x63, 0x82, 0x53, 0x63);
  for (const [code, v] of r.options) {
    const val = bytes(v);
    b.push(code, val.length, ...val);
  }
  if (!r.noEnd) b.push(255);
  while (b.length < 300) b.push(0);
  return Buffer.from(b);
}

export const GUID = [0x00, 0x4c, 0x4c, 0x45, 0x44, 0x00, 0x10, 0x33, 0x80, 0x4d, 0xb8, 0xc0, 0x4f, 0x39, 0x4e, 0x31, 0x32];
export const ZERO_GUID = [0, ...new Array(16).fill(0)];

/** Parameter request list of an Intel PXE 2.1 ROM (PXE spec: 1–67, 97, 128–135 subset). */
const PXE_PRL = [1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135];

/** The DISCOVERs of the clients the proxy must serve. */
export const CLIENTS = {
  /** BIOS PXE 2.1 ROM (UNDI 2.1): arch 0, broadcast flag, max message size 1260. */
  bios: (): RawRequest => ({
    xid: 0x1a2b3c4d,
    flags: 0x8000,
    mac: '52:54:00:12:34:56',
    options: [
      [53, [1]],
      [57, [0x04, 0xec]],
      [55, PXE_PRL],
      [97, GUID],
      [94, [1, 2, 1]],
      [93, [0, 0]],
      [60, 'PXEClient:Arch:00000:UNDI:002001'],
    ],
  }),
  /** EDK2 UEFI x64 PXE (OVMF): arch 7, UNDI 3.0. */
  uefi64: (): RawRequest => ({
    xid: 0x5e6f7081,
    mac: '52:54:00:ab:cd:01',
    options: [
      [53, [1]],
      [57, [0x05, 0xc0]],
      [55, [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135]],
      [97, GUID],
      [94, [1, 3, 0]],
      [93, [0, 7]],
      [60, 'PXEClient:Arch:00007:UNDI:003000'],
    ],
  }),
  /** EDK2 UEFI HTTP Boot x64: vendor class HTTPClient, arch 16. */
  http: (): RawRequest => ({
    xid: 0x0badcafe,
    mac: '52:54:00:ab:cd:02',
    options: [
      [53, [1]],
      [57, [0x05, 0xc0]],
      [55, [1, 3, 6, 12, 15, 28, 43, 60, 66, 67, 97]],
      [97, GUID],
      [94, [1, 3, 0]],
      [93, [0, 16]],
      [60, 'HTTPClient:Arch:00016:UNDI:003000'],
    ],
  }),
  /** UEFI ARM64 PXE: arch 11. */
  arm64: (): RawRequest => ({
    xid: 0x11223344,
    mac: 'e4:5f:01:aa:bb:cc',
    options: [
      [53, [1]],
      [55, [1, 3, 6, 43, 60, 66, 67]],
      [97, GUID],
      [93, [0, 11]],
      [60, 'PXEClient:Arch:00011:UNDI:003000'],
    ],
  }),
  /** iPXE (QEMU's ROM, BIOS): user class "iPXE", option 175 (iPXE features), arch 0. */
  ipxe: (): RawRequest => ({
    xid: 0x7788aabb,
    mac: '52:54:00:12:34:56',
    options: [
      [53, [1]],
      [57, [0x05, 0xdc]],
      [93, [0, 0]],
      [94, [1, 2, 1]],
      [60, 'PXEClient:Arch:00000:UNDI:002001'],
      [77, 'iPXE'],
      [55, [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203]],
      [175, [0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e, 0xeb, 0x03, 0x01, 0x00, 0x00, 0x17, 0x01, 0x01, 0x13, 0x01, 0x01]],
      [61, [1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]],
      [97, GUID],
    ],
  }),
  /** An ordinary DHCP client (a Linux udhcpc): must be ignored. */
  plain: (): RawRequest => ({
    xid: 0x01020304,
    mac: '02:00:00:00:00:09',
    options: [
      [53, [1]],
      [61, [1, 2, 0, 0, 0, 0, 9]],
      [60, 'udhcp 1.35.0'],
      [55, [1, 3, 6, 12, 15, 28, 42]],
    ],
  }),
};

/** A EDK2-style boot server REQUEST on port 4011 after a proxy offer (PXE 2.1 §2.2.6): ciaddr set, sub-option 71. */
export function bootServerRequest(base: RawRequest, ciaddr: string, item: [number, number] | null): RawRequest {
  const opts = base.options.filter(([c]) => c !== 53 && c !== 43);
  const sub: number[] = item ? [71, 4, item[0] >> 8, item[0] & 255, item[1] >> 8, item[1] & 255, 255] : [];
  return { ...base, ciaddr, flags: 0, options: [[53, [3]], ...(item ? ([[43, sub]] as RawOption[]) : []), ...opts] };
}

export function hex(b: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) lines.push(`${i.toString(16).padStart(4, '0')}  ${[...b.subarray(i, i + 16)].map((x) => x.toString(16).padStart(2, '0')).join(' ')}`);
  return lines.join('\n') + '\n';
}

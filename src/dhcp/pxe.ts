/**
 * Option 43 as the PXE 2.1 specification uses it (its §2.2.5 "PXE vendor
 * options"): encapsulated sub-options in the same code/length/value form as
 * DHCP options, ended by 255. Pure functions over Buffers.
 */
import { PacketError, ipFromBytes, ipToBytes } from './packet.js';

export const PxeSub = {
  MTFTP_IP: 1,
  /** Bit field: 0 disable broadcast discovery, 1 disable multicast, 2 only servers in BOOT_SERVERS, 3 boot the offered file directly. */
  DISCOVERY_CONTROL: 6,
  MCAST_ADDR: 7,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

export const Discovery = {
  NO_BROADCAST: 1,
  NO_MULTICAST: 2,
  ONLY_LISTED_SERVERS: 4,
  USE_BOOT_FILE: 8,
} as const;

/** Decodes option 43's sub-options; repeats are concatenated like top-level options. */
export function decodeSubOptions(v: Buffer): Map<number, Buffer> {
  const parts = new Map<number, Buffer[]>();
  let i = 0;
  while (i < v.length) {
    const code = v[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= v.length) throw new PacketError(`option 43: sub-option ${code} at offset ${i} has no length byte (option is ${v.length} bytes)`);
    const len = v[i + 1]!;
    const remain = v.length - i - 2;
    if (len > remain) throw new PacketError(`option 43: sub-option ${code} at offset ${i} claims ${len} bytes, ${remain} remain`);
    const value = v.subarray(i + 2, i + 2 + len);
    const list = parts.get(code);
    if (list) list.push(value);
    else parts.set(code, [value]);
    i += 2 + len;
  }
  const out = new Map<number, Buffer>();
  for (const [code, list] of parts) out.set(code, Buffer.from(list.length === 1 ? list[0]! : Buffer.concat(list)));
  return out;
}

export function encodeSubOptions(subs: Map<number, Buffer>): Buffer {
  const chunks: Buffer[] = [];
  for (const [code, value] of subs) {
    if (code <= 0 || code >= 255) throw new PacketError(`option 43: sub-option code ${code} cannot carry a value`);
    let off = 0;
    do {
      const n = Math.min(255, value.length - off);
      chunks.push(Buffer.from([code, n]), value.subarray(off, off + n));
      off += n;
    } while (off < value.length);
  }
  chunks.push(Buffer.from([255]));
  return Buffer.concat(chunks);
}

export interface MenuItem {
  /** Boot server type: 0 = boot from the local disk; 32768–65534 are for vendors. */
  type: number;
  label: string;
}

/** PXE_BOOT_MENU (sub-option 9): type (2), description length (1), description. */
export function encodeBootMenu(items: MenuItem[]): Buffer {
  const chunks: Buffer[] = [];
  for (const it of items) {
    const label = Buffer.from(it.label, 'latin1');
    if (label.length > 255) throw new PacketError(`menu label "${it.label.slice(0, 20)}…" is ${label.length} bytes; at most 255`);
    const head = Buffer.alloc(3);
    head.writeUInt16BE(it.type, 0);
    head[2] = label.length;
    chunks.push(head, label);
  }
  return Buffer.concat(chunks);
}

export function decodeBootMenu(v: Buffer): MenuItem[] {
  const items: MenuItem[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 3 > v.length) throw new PacketError(`boot menu: item at offset ${i} needs 3 header bytes, ${v.length - i} remain`);
    const type = v.readUInt16BE(i);
    const len = v[i + 2]!;
    if (i + 3 + len > v.length) throw new PacketError(`boot menu: item at offset ${i} claims a ${len}-byte label, ${v.length - i - 3} remain`);
    items.push({ type, label: v.subarray(i + 3, i + 3 + len).toString('latin1') });
    i += 3 + len;
  }
  return items;
}

/**
 * PXE_MENU_PROMPT (sub-option 10): timeout (1), prompt text. The client shows
 * the prompt and counts down; F8 opens the menu. 0 picks the first item at
 * once, 255 shows the menu straight away.
 */
export function encodeMenuPrompt(timeoutSec: number, prompt: string): Buffer {
  if (!Number.isInteger(timeoutSec) || timeoutSec < 0 || timeoutSec > 255) throw new PacketError(`menu timeout ${timeoutSec} must be 0–255 seconds`);
  return Buffer.concat([Buffer.from([timeoutSec]), Buffer.from(prompt, 'latin1')]);
}

export function decodeMenuPrompt(v: Buffer): { timeoutSec: number; prompt: string } {
  if (v.length < 1) throw new PacketError('menu prompt: 0 bytes; needs at least the timeout byte');
  return { timeoutSec: v[0]!, prompt: v.subarray(1).toString('latin1') };
}

/** PXE_BOOT_SERVERS (sub-option 8): type (2), count (1), count × IPv4. */
export function encodeBootServers(list: { type: number; addresses: string[] }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const s of list) {
    const head = Buffer.alloc(3);
    head.writeUInt16BE(s.type, 0);
    head[2] = s.addresses.length;
    chunks.push(head, ...s.addresses.map(ipToBytes));
  }
  return Buffer.concat(chunks);
}

export function decodeBootServers(v: Buffer): { type: number; addresses: string[] }[] {
  const out: { type: number; addresses: string[] }[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 3 > v.length) throw new PacketError(`boot servers: entry at offset ${i} needs 3 header bytes, ${v.length - i} remain`);
    const type = v.readUInt16BE(i);
    const count = v[i + 2]!;
    if (i + 3 + 4 * count > v.length) throw new PacketError(`boot servers: entry at offset ${i} lists ${count} addresses (${4 * count} bytes), ${v.length - i - 3} remain`);
    const addresses: string[] = [];
    for (let k = 0; k < count; k++) addresses.push(ipFromBytes(v, i + 3 + 4 * k));
    out.push({ type, addresses });
    i += 3 + 4 * count;
  }
  return out;
}

/** PXE_BOOT_ITEM (sub-option 71): server type (2), layer (2; bit 15 asks for credentials). */
export function encodeBootItem(type: number, layer: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(layer, 2);
  return b;
}

export function decodeBootItem(v: Buffer): { type: number; layer: number } {
  if (v.length !== 4) throw new PacketError(`boot item (sub-option 71) is ${v.length} bytes; expected 4`);
  return { type: v.readUInt16BE(0), layer: v.readUInt16BE(2) };
}
